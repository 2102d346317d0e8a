# MQTT sync with the gateway (docs/protocol.md): journal records, live telemetry, events and
# commands over umqtt.simple. One task; every blocking client call is bounded by the socket
# timeout (sync/tsock.py) and followed by a yield, so a broker outage holds the event loop
# for at most about mqtt.timeout_ms. The worst such hold is measured (stall_ms), and a probe
# measures the event loop's worst lag from any cause (lag_ms).
#
# Recovery is one path: any error closes the connection; _run reconnects with exponential
# backoff and jitter; the send cursor restarts at ack + 1, so nothing is lost (the gateway
# drops duplicates). Counters for every failure path go out in telemetry.
#
# Only the per-message paths live here; setup (every attribute), the info and treq payloads,
# stats and the restart are in sync/rare.py, loaded per use (Sync._rare).
import asyncio
import random
import time

from micropython import const

from prepay import topics as T
from prepay import record
from umqtt import simple
from lazy import forget

_BACKOFF_MIN = const(250)      # real ms
_BACKOFF_MAX = const(8000)
_IDLE_MS = const(40)           # real ms between polls when there is nothing to send
_INFLIGHT = const(20)          # batches sent beyond the ack before waiting for it
_ACK_WAIT = const(5000)        # real ms without ack progress before resending from ack + 1
_EV_MAX = const(16)            # unsent events held (in the events ring) before dropping
_CMD_Q = const(8)
_TREQ_EVERY = const(86400000)  # meter ms between time requests once synced


class Sync:
    def __init__(self, meter):
        self._rare("init", meter)    # every attribute is set there

    def _rare(self, job, *a):
        """Run sync/rare.py's `job` (setup, info and treq payloads, stats, restart): loaded
        for it and dropped after."""
        from sync import rare
        try:
            return getattr(rare, job)(self, *a)
        finally:
            forget("sync.rare")

    # ---- events: the unsent ones stay in the events ring, at most _EV_MAX (drops counted)
    def _ev_unsent(self):
        n = self.m.events.n - self._ev_r
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
            if not self.b.net_up():
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
                self._rare("reset")
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
        c = simple.MQTTClient(*self.client)
        c.set_callback(self._on_msg)
        c.set_last_will(self.pre + T.LWT, T.OFFLINE, True, 1)
        self.c = c
        self._call(c.connect, False)            # persistent session: queued commands wait
        await asyncio.sleep_ms(0)
        self._call(c.publish, self.pre + T.LWT, T.ONLINE, True, 1)
        await asyncio.sleep_ms(0)
        self._call(c.subscribe, self._cmdpre + b"#", 1)
        self.online = True
        self.connects += 1
        await asyncio.sleep_ms(0)
        self._publish(T.INFO, self._rare("info"))
        j = self.m.journal
        self.cursor = j.ack_seq + 1             # replay everything not yet acked
        self._idle_at = -1
        self._ack_t = time.ticks_ms()
        if not self.b.rtc_valid():
            self._rare("time_request")

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
            if not b.net_up():
                raise OSError("link down")
            busy = False
            for _ in range(_CMD_Q):             # drain incoming (each read is bounded)
                c.sock.rx = False
                self._call(c.check_msg)
                if not c.sock.rx:
                    break
            if self._cmds:
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
                self._rare("time_request")
            if time.ticks_diff(now, ping_t) >= c.keepalive * 500:
                ping_t = now
                self._call(c.ping)
            if time.ticks_diff(now, c.sock.last_rx) > c.keepalive * 1500:
                raise OSError("broker silent")
            await asyncio.sleep_ms(0 if busy else _IDLE_MS)

    def _send_records(self):
        j = self.m.journal
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
        ev = self.m.events.get(self._ev_r)
        for v in ev.values():
            if not T.scalar(v):
                self.ev_bad += 1                # the gateway would reject it: not sent
                break
        else:
            d = dict(ev)
            d["seq"] = (self.m.journal.boots << 20) | ((self._ev_r - self._ev0 + 1) & 0xFFFFF)
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
        else:
            self.cmd_drops += 1

    def _command(self, kind, msg):
        """Apply one queued command (and every rejection) with sync/commands.py, loaded for
        the job and unloaded after (it unloads the schema checker itself)."""
        from sync import commands
        try:
            commands.handle(self, kind, msg)
        finally:
            forget("sync.commands")

    def _ack(self, seq):
        if self.m.journal.ack(seq):
            self._ack_t = time.ticks_ms()

    # ---- payloads ----------------------------------------------------------------------
    def _tele(self):
        m = self.m
        r = m.reading
        j = m.journal
        cr = m.credit
        self._ev_unsent()                       # ev_drops up to date
        return T.dumps({
            "t": self.b.time(), "wh": m.energy.wh, "p": r.p, "v": r.v, "i": r.i, "pf": r.pf,
            "hz": r.hz, "status": r.status, "relay": self.b.relay_closed(),
            "credit": cr.balance(), "seq": j.last(), "ack": j.ack_seq,
            "backlog": j.backlog(), "flags": cr.flags(), "reconnects": self.reconnects,
            "stall_ms": self.stall_ms, "lag_ms": self.lag_ms, "missed": m.missed,
            "ev_drops": self.ev_drops, "cmd_drops": self.cmd_drops, "gaps": j.gaps,
            "dropped": j.dropped, "corrupt": j.corrupt, "rtc": self.b.rtc_valid(),
            "rewinds": self.rewinds})

    def stats(self):
        return self._rare("stats")
