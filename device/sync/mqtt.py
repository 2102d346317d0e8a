# MQTT sync with the gateway (docs/protocol.md): journal records, live telemetry, events and
# commands over umqtt.simple. One task. Each time it has the event loop back it opens a new
# socket budget (timeout_socket.turn(), mqtt.timeout_ms, at most 80 ms): every socket wait
# until the next await - however many umqtt calls that turn makes - shares it, so a slow or
# hung broker holds the event loop for at most about mqtt.timeout_ms plus the turn's own
# work, then costs a reconnect with backoff (sync/timeout_socket.py). The worst single call
# is measured (stall_ms), and a probe measures the event loop's worst lag (lag_ms).
#
# Commands are queued by umqtt's callback (at most _CMD_Q) and applied one per loop turn; one
# that cannot be queued (or finds no memory) is answered "busy" so the gateway re-sends it:
# umqtt.simple has already PUBACKed it, so the broker never would.
#
# Recovery is one path: any error closes the connection; _run reconnects with exponential
# backoff and jitter; the send cursor restarts at ack + 1, so nothing is lost (the gateway
# drops duplicates). Counters for every failure path go out in telemetry.
#
# Sync is given what it works on, not the meter: the journal (records to send, acks), the
# events (sent in order), the command handler (device/remote.py: what a token, relay, time or
# config command does to the meter) and the meter's telemetry and info fields.
import asyncio
import gc
import json
import random
import time

from micropython import const

from prepay import topics as T
from prepay import record
from umqtt import simple
from lazy import forget
from sync import timeout_socket

_BACKOFF_MIN = const(250)      # real ms
_BACKOFF_MAX = const(8000)
_IDLE_MS = const(40)           # real ms between polls when there is nothing to send
_INFLIGHT = const(20)          # batches sent beyond the ack before waiting for it
_ACK_WAIT = const(5000)        # real ms without ack progress before resending from ack + 1
_EV_MAX = const(16)            # unsent events held (in the events ring) before dropping
_CMD_Q = const(8)              # commands waiting to be applied
_OWED_MAX = const(16)          # ids beyond the queue owed a "busy" answer (more: cmd_drops)
_TREQ_EVERY = const(86400000)  # meter ms between time requests once synced
_DONE_N = const(16)            # answers kept for duplicate command ids (Sync._done)


class Sync:
    def __init__(self, board, net, dns, journal, events, remote, telemetry, describe, client,
                 tele_ms, batch, tls, pre):
        """Built at boot by sync/setup.py from_config (boot-only code, loaded for it and
        dropped: 0.6 KB of the loose bundle's 32-bit heap, tests/bench/
        bench_forget_sites.py). `net` says whether the link is up (device/net.py), `dns`
        resolves the broker's name, `remote` applies commands (device/remote.py),
        telemetry(d) and describe(d) add the meter's fields to the tele and info payloads;
        `client`: umqtt.simple.MQTTClient's arguments (id, host, port, user, password,
        keepalive); `batch`: records per message; `pre`: "<mqtt.prefix>/<meter.id>/"."""
        self.b = board
        self.net = net
        self.dns = dns
        self.journal = journal
        self.events = events
        self.remote = remote
        self._telemetry = telemetry
        self._describe = describe
        self.client = client
        self.tele_ms = tele_ms
        self.batch = batch
        self.tls = tls
        self.pre = pre                          # + leaf: a topic
        self._cmdpre = (pre + T.CMD + "/").encode()
        self.buf = bytearray(T.REC_HDR + batch * record.SIZE)  # one batch, reused
        self.c = None
        self.online = False
        self.cursor = 0         # next seq to send
        self._idle_at = -1      # journal.last() when a read found nothing sendable
        self._ack_t = 0         # real ms of the last ack progress
        self._ev0 = self._ev_r = events.n   # first event of this boot to send; next to send
        self._cmds = []
        self._owed = []         # (kind, id) of commands the full queue turned away: "busy"
        self._done = []         # (id, res bytes) of the last commands applied, newest last
        self._treq = (0, 0)     # (id, meter ticks) of the latest time request
        self._reset = False     # a config command asked for a restart
        # counters (tele, stats)
        self.connects = self.reconnects = self.conn_fails = 0
        self.batches = self.records = self.events_sent = 0
        self.ev_drops = self.ev_bad = self.cmd_drops = self.cmd_rejected = self.cmds = 0
        self.cmd_busy = self.cmd_dups = self.cmd_oom = 0
        self.rewinds = self.time_syncs = self.replays = 0
        self.beats = 0          # loop rounds: progress, for the watchdog (device/watchdog.py)
        self.stall_ms = 0       # longest single blocking MQTT call
        self.lag_ms = 0         # worst event-loop lag seen by the probe
        self.last_error = ""
        self._probing = False

    # ---- events: the unsent ones stay in the events ring, at most _EV_MAX (drops counted)
    def _ev_unsent(self):
        n = self.events.n - self._ev_r
        if n > _EV_MAX:
            self.ev_drops += n - _EV_MAX     # drop the oldest
            self._ev_r += n - _EV_MAX
            n = _EV_MAX
        return n

    # ---- the task ----------------------------------------------------------------------
    async def run(self):
        if not self._probing:
            self._probing = True
            asyncio.create_task(self._probe())
        backoff = _BACKOFF_MIN
        while True:
            self.beats += 1                     # progress, for the watchdog
            if not self.net.up():
                self._close()
                await asyncio.sleep_ms(500)
                continue
            try:
                await self._connect()
                backoff = _BACKOFF_MIN
                await self._session()
            except Exception as e:  # noqa: umqtt raises OSError, MQTTException, assert, index
                self.last_error = repr(e)[:60]
            if self.online:
                self.reconnects += 1
            else:
                self.conn_fails += 1
            self._close()
            if self._reset:
                self.remote.restart()
            await asyncio.sleep_ms(backoff // 2 + random.getrandbits(16) % (backoff // 2 + 1))
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _probe(self):
        """Worst lateness of a 20 ms sleep: how long anything held the event loop."""
        while True:
            t0 = time.ticks_ms()
            await asyncio.sleep_ms(20)
            d = time.ticks_diff(time.ticks_ms(), t0) - 20
            if d > self.lag_ms:
                self.lag_ms = d

    def _call(self, fn, *a):
        t0 = time.ticks_ms()
        try:
            return fn(*a)
        finally:
            d = time.ticks_diff(time.ticks_ms(), t0)
            if d > self.stall_ms:
                self.stall_ms = d

    async def _connect(self):
        if await self.dns.resolve(self.client[1]) is None:  # timeout_socket.getaddrinfo's
            raise OSError(self.dns.last_error)                # address; a conn_fail: backoff
        c = simple.MQTTClient(*self.client)
        c.set_callback(self._on_msg)
        c.set_last_will(self.pre + T.LWT, T.OFFLINE, True, 1)
        self.c = c
        timeout_socket.turn()
        self._call(c.connect, False)            # persistent session: queued commands wait
        await asyncio.sleep_ms(0)
        timeout_socket.turn()
        self._call(c.publish, self.pre + T.LWT, T.ONLINE, True, 1)
        await asyncio.sleep_ms(0)
        timeout_socket.turn()
        self._call(c.subscribe, self._cmdpre + b"#", 1)
        self.online = True
        self.connects += 1
        await asyncio.sleep_ms(0)
        timeout_socket.turn()
        self._publish(T.INFO, self._info())
        j = self.journal
        self.cursor = j.ack_seq + 1             # replay everything not yet acked
        self._idle_at = -1
        self._ack_t = time.ticks_ms()
        if not self.b.rtc_valid():
            self._time_request()

    def _close(self):
        c, self.c = self.c, None
        self.online = False
        if c and c.sock:
            try:
                c.sock.close()
            except OSError:
                pass

    def _publish(self, kind, payload):
        qos, retain = T.UP[kind]
        self._call(self.c.publish, self.pre + kind, payload, retain, qos)

    # ---- connected loop ----------------------------------------------------------------
    async def _session(self):
        b = self.b
        c = self.c
        tele_t = b.ticks_ms() - self.tele_ms
        treq_t = b.ticks_ms()
        ping_t = time.ticks_ms()
        while True:
            self.beats += 1
            timeout_socket.turn()                        # this turn's socket budget
            if not self.net.up():
                raise OSError("link down")
            busy = False
            for _ in range(_CMD_Q):             # drain incoming (each read is bounded)
                c.sock.rx = False
                self._call(c.check_msg)
                if not c.sock.rx:
                    break
            if self._owed:
                self._answer_busy()
                busy = True
            elif self._cmds:
                self._command(*self._cmds.pop(0))
                busy = True
                if self._reset:
                    raise OSError("restart requested")
            elif self._ev_unsent():
                self._send_event()
                busy = True
            elif self._send_records():
                busy = True
            now = time.ticks_ms()
            if b.ticks_diff(b.ticks_ms(), tele_t) >= self.tele_ms:
                tele_t = b.ticks_ms()
                self._publish(T.TELE, self._tele())
                busy = True
            if b.ticks_diff(b.ticks_ms(), treq_t) >= _TREQ_EVERY:
                treq_t = b.ticks_ms()
                self._time_request()
            if time.ticks_diff(now, ping_t) >= c.keepalive * 500:
                ping_t = now
                self._call(c.ping)
            if time.ticks_diff(now, c.sock.last_rx) > c.keepalive * 1500:
                raise OSError("broker silent")
            await asyncio.sleep_ms(0 if busy else _IDLE_MS)

    def _send_records(self):
        j = self.journal
        last = j.last()
        if self.cursor <= j.ack_seq:
            self.cursor = j.ack_seq + 1
        now = time.ticks_ms()
        if self.cursor > j.ack_seq + 1 and time.ticks_diff(now, self._ack_t) > _ACK_WAIT:
            self.cursor = j.ack_seq + 1         # sent but never acked: resend
            self._ack_t = now
            self._idle_at = -1
            self.rewinds += 1
        if self.cursor > last or last == self._idle_at:
            return False
        if self.cursor - j.ack_seq > _INFLIGHT * self.batch:
            return False                        # wait for the gateway to catch up
        n, nxt = j.read(self.cursor, self.buf, T.REC_HDR, self.batch)
        if not n:
            self._idle_at = last
            self.cursor = nxt
            return False
        T.rec_header(self.buf, n, T.R_REPLAY if nxt <= last else 0)
        self._publish(T.REC, memoryview(self.buf)[:T.REC_HDR + n * record.SIZE])
        if self.cursor == j.ack_seq + 1:
            self._ack_t = time.ticks_ms()       # the ack clock runs from the oldest unacked send
        self.cursor = nxt
        self.batches += 1
        self.records += n
        return True

    def _send_event(self):
        # Kinds are fixed in code (tests check every .emit( against the contract) and the
        # gateway validates each evt; data values are runtime ones, so those are checked here.
        ev = self.events.get(self._ev_r)
        for v in ev.values():
            if not T.scalar(v):
                self.ev_bad += 1                # the gateway would reject it: not sent
                break
        else:
            d = dict(ev)
            d["seq"] = (self.journal.boots << 20) | ((self._ev_r - self._ev0 + 1) & 0xFFFFF)
            self._publish(T.EVT, T.dumps(d))
            self.events_sent += 1
        self._ev_r += 1

    # ---- incoming ------------------------------------------------------------------------
    def _on_msg(self, topic, msg):
        """umqtt callback, possibly in the middle of a publish: no client calls here."""
        if not topic.startswith(self._cmdpre):
            self.cmd_rejected += 1
            return
        kind = topic[len(self._cmdpre):].decode()
        if kind == T.ACK:                       # cheap and order-sensitive: apply now
            seq = T.ack_seq(msg)
            if seq is not None:
                self._ack(seq)
                return                          # else rejected later, outside the callback
        if len(self._cmds) < _CMD_Q:
            self._cmds.append((kind, bytes(msg)))
            return
        # Full: umqtt.simple PUBACKs the message after this returns, so the broker will not
        # resend it: the meter owes its sender an answer.
        self._owe(kind, msg)

    def _owe(self, kind, msg):
        """Owe a command not applied a "busy" answer (sent from the session loop), so the
        gateway re-sends it; only beyond _OWED_MAX (or without an id) is it dropped."""
        cid = None
        try:
            d = json.loads(msg)
            cid = d.get("id") if type(d) is dict else None
        except ValueError:
            pass
        if type(cid) is str and 0 < len(cid) <= 32 and len(self._owed) < _OWED_MAX:
            self._owed.append((kind[:16], cid))
        else:
            self.cmd_drops += 1

    def _answer_busy(self):
        kind, cid = self._owed.pop(0)
        for done in self._done:
            if done[0] == cid:           # applied meanwhile (a re-send): that answer stands
                return
        self.cmd_busy += 1
        self._publish(T.RES, T.dumps({"id": cid, "cmd": kind, "ok": False, "error": "busy"}))

    def _command(self, kind, msg):
        """Apply one queued command with sync/commands.py, loaded for the job and dropped
        after (with the schema checker and config it loads: keeping them resident would cost
        10.1 KB of the loose bundle's 32-bit heap, tests/bench/bench_forget_sites.py). It
        says what to do; Sync does it. Without the memory for it now, the command is
        answered busy: the gateway re-sends it."""
        gc.collect()                            # the modules it loads want whole blocks
        try:
            from sync import commands
            what, v = commands.handle(kind, msg, self.remote, self._done, self._treq, self.b)
        except MemoryError:
            commands = None
            forget("sync.commands")
            gc.collect()
            self.cmd_oom += 1
            self._owe(kind, msg)
            return
        finally:
            forget("sync.commands")
        self.cmds += 1
        if what == "ack":
            self._ack(v)
        elif what == "replay":
            self.replays += 1
            self.cursor = max(min(self.cursor, v), self.journal.ack_seq + 1)
            self._idle_at = -1
        elif what == "time":
            self.time_syncs += v
        elif what == "dup":                     # a re-send: answered, never re-applied
            self.cmd_dups += 1
            self._publish(T.RES, v)
        elif what == "reject":                  # (error, answer when it had an id)
            self.cmd_rejected += 1
            self.events.emit("cmd_rejected", cmd=kind[:16], error=v[0][:60])
            if v[1] and self.c:
                self._publish(T.RES, v[1])
        else:                                   # "res": (id, answer, ok, restart)
            cid, out, ok, restart = v
            if not ok:
                self.cmd_rejected += 1
            if restart:
                self._reset = True
            self._done.append((cid, out))       # the answer to a duplicate of this id
            if len(self._done) > _DONE_N:
                self._done.pop(0)
            self._publish(T.RES, out)

    def _ack(self, seq):
        if self.journal.ack(seq):
            self._ack_t = time.ticks_ms()

    # ---- payloads ----------------------------------------------------------------------
    def _tele(self):
        j = self.journal
        self._ev_unsent()                       # ev_drops up to date
        d = {
            "seq": j.last(), "ack": j.ack_seq, "backlog": j.backlog(),
            "gaps": j.gaps, "dropped": j.dropped, "corrupt": j.corrupt,
            "reconnects": self.reconnects, "stall_ms": self.stall_ms, "lag_ms": self.lag_ms,
            "ev_drops": self.ev_drops, "cmd_drops": self.cmd_drops, "cmd_busy": self.cmd_busy,
            "rtc": self.b.rtc_valid(), "rewinds": self.rewinds,
            "tls_fails": timeout_socket.tls_fails}
        self._telemetry(d)
        return T.dumps(d)

    def _info(self):
        j = self.journal
        d = {"interval_s": j.interval_s, "boot": j.boots, "rtc": self.b.rtc_valid(),
             "t": self.b.time()}
        self._describe(d)
        return T.dumps(d)

    def _time_request(self):
        n = self._treq[0] + 1
        self._treq = (n, self.b.ticks_ms())
        self._publish(T.TREQ, T.dumps({"id": n, "t": self.b.time(), "rtc": self.b.rtc_valid()}))

    def stats(self):
        self._ev_unsent()
        return {"online": self.online, "connects": self.connects, "reconnects": self.reconnects,
                "conn_fails": self.conn_fails, "batches": self.batches, "records": self.records,
                "events": self.events_sent, "ev_drops": self.ev_drops, "ev_bad": self.ev_bad,
                "cmds": self.cmds, "cmd_drops": self.cmd_drops,
                "cmd_rejected": self.cmd_rejected, "cmd_busy": self.cmd_busy,
                "cmd_dups": self.cmd_dups, "cmd_oom": self.cmd_oom, "rewinds": self.rewinds,
                "replays": self.replays, "time_syncs": self.time_syncs, "tls": self.tls,
                "tls_fails": timeout_socket.tls_fails, "stall_ms": self.stall_ms,
                "lag_ms": self.lag_ms, "max_wait_ms": timeout_socket.max_wait_ms,
                "cursor": self.cursor, "last_error": self.last_error}
