"""Gateway sync endpoint: MQTT (paho-mqtt 2.2, VERSION2 callbacks) into the store.

    ing = Ingest(store, "127.0.0.1", 1883, "gateway", pw, prefix="pm", client_id="gw-ingest")
    ing.start(); ...; ing.stop()
    ing.stats          # received, stored, duplicates, dead_letters, acks, replays, lag_s, ...
    ing.send_command("m-001", "token", id="tx-7", code="123456789")

paho's network thread does no work but enqueue (topic, payload, time) into a bounded
queue; when the queue is full it blocks, so paho stops reading and the broker holds the rest
(TCP back-pressure): nothing is dropped. A writer thread drains the queue in batches:
every payload is validated with prepay.protocol / prepay.record, rejected ones go to the
dead-letter table with the reason and raw bytes, and the rest are applied in one store
transaction (records idempotent by (meter, seq)). After each batch it acks the highest
contiguous seq of every meter it touched (retained cmd/ack, coalesced: see Acks), and asks
for a replay of the first hole of a meter whose contiguous mark has not moved for
`replay_wait` seconds. It answers time requests (cmd/time) from `clock`, and tracks
online/offline from the LWT. Only meters registered by provisioning are accepted.
docs/protocol.md is the contract.

Receiving and publishing: `client` receives (the subscriptions), `out` publishes (acks,
replay requests, time answers, the outbox's commands). They are one connection unless the
publishing side has a login of its own (out_user: the write-only `gateway-out` of the
provisioned ACL, host_tools/provision.py, docs/broker.md); then `out` is a second connection,
client id `<client_id>-out`, which reconnects on its own, and acks and commands follow its
state (its reconnect re-publishes every current ack, Acks).

A second connection was meant to keep acks from queueing behind the inbound flood. Measured
(tests/bench/bench_fleetsim.py, 100,000 meters; bench_gateway_ingest.py), it costs more than
it saves: its paho thread is a third Python thread competing for the GIL with the receiving
one, and the gateway's own ack lag (commit to PUBACK, stats ack_lag_*) was under 1.5 s either
way. Live records' lag at the meters is the ingest queue's, which the extra thread lengthened
(p50 18 s against 1.8 s on one connection, in the same session), and single-record ingest
fell from 0.88x to 0.35x the bare subscriber. So it is the choice of a deployment that wants
the ACL split, not the default.
"""
import collections
import json
import queue
import threading
import time

import paho.mqtt.client as mqtt

from gateway.schema import DEAD_KEEP
from gateway.storage import ops as O
from prepay import protocol as P
from prepay import wire

_STOP = object()
_WAKE = object()    # queued by paho's thread: ack events wait (Acks.events)
_RESET = object()   # an ack event: the connection dropped or came back
# No valid message is longer than P.PAYLOAD_MAX (a full record batch), so a longer payload is
# cut to what its dead letter keeps before it is queued: a flood of huge publishes costs
# neither queue memory nor database space, whatever the broker's own limit.
MSG_MAX = P.PAYLOAD_MAX
# Valid topics parsed so far (7 leaves a meter): enough for 100,000 meters before the cache
# starts over, and a bound on what a client publishing random topics can make it hold.
TOPIC_CACHE = 1 << 20
ACK_EVERY_S = 1.0     # acks go out in rounds at most this far apart (Acks)
LAG_KEEP = 10000      # acks whose lag the ack_lag_* percentiles are taken over
LAG_EVERY_S = 1.0     # how often those percentiles are worked out (a sort of LAG_KEEP)


class Acks:
    """Coalesced acks. An ack is state (the newest contiguous seq of a meter), not a message
    stream: a publish per write batch outran its PUBACKs under a backlog until paho's 65,535
    message ids ran out and acks stopped. So each meter has at most one ack in flight (and
    all meters together at most `cap`); a newer value waits in `due` and goes out when the
    one in flight is PUBACKed, and only the newest is sent.

    A reconnect forgets every in-flight ack (its PUBACK may never come, or came from a broker
    that then lost it with its retained store) and re-publishes the current ack of every
    meter. The writer thread owns all this state; paho's thread only appends (PUBACKed mid
    or _RESET, its time) to `events`, which the writer applies in `flush`, so a mid is always
    recorded before its completion is looked up and no lock is held across publish().

    Acks go out in rounds at most `every_s` apart (a round cut short by the cap goes on as
    PUBACKs free room). Once acks had a connection of their own their PUBACKs came back at
    once, every write batch acked every meter it touched, and a gateway on single-record
    messages published an ack per two records: 0.22x the bare subscriber instead of 0.8x
    (tests/bench/bench_gateway_ingest.py); rounds a quarter of a second apart still
    published 0.6 per record. A second is little to a meter, whose window is 20 batches
    beyond its ack (device/sync/mqtt.py), and nothing beside the 20 s its live records
    waited for their acks at 100,000 meters (tests/bench/bench_fleetsim.py)."""

    def __init__(self, publish, cap, stats, every_s=ACK_EVERY_S):
        self.publish = publish       # (meter, seq) -> paho MQTTMessageInfo
        self.cap = cap
        self.stats = stats
        self.every_s = every_s
        self._round_at = 0.0         # when the last round started
        self._cut = False            # the last round stopped at the cap with acks due
        self.events = collections.deque()
        self.want = {}               # meter -> newest seq to ack
        self.sent = {}               # meter -> (seq, time) last handed to paho
        self.fly = {}                # meter -> (mid, seq, due since) awaiting its PUBACK
        self.mids = {}               # mid -> meter, for fly
        self.due = {}                # meter (insertion-ordered, not in fly) -> due since
        # seconds from an ack falling due (its records committed) to its PUBACK, the last
        # LAG_KEEP of them: the ack lag the gateway adds (percentiles(): stats ack_lag_*)
        self.lags = collections.deque(maxlen=LAG_KEEP)

    def set(self, meter, seq, now):
        """Ack `seq` when it moved, and again at most once a second when the meter keeps
        sending what is already stored (its ack was lost)."""
        self.want[meter] = seq
        last = self.sent.get(meter)
        if last is not None and seq == last[0] and now - last[1] < 1.0:
            return
        if meter not in self.fly and meter not in self.due:
            self.due[meter] = now

    def flush(self, now, connected):
        """Apply paho's events, then publish due acks while under the cap."""
        while self.events:
            e, t = self.events.popleft()
            if e is _RESET:
                for meter, (_, _, since) in self.fly.items():
                    self.due.setdefault(meter, since)
                self.mids.clear()
                self.fly.clear()
                for meter in self.want:
                    self.due.setdefault(meter, now)
            else:
                meter = self.mids.pop(e, None)
                if meter is not None:        # else another command, or an ack forgotten
                    _, seq, since = self.fly.pop(meter)
                    self.lags.append(t - since)
                    if self.want[meter] != seq:
                        self.due[meter] = now
        # while disconnected nothing is published: the reconnect's _RESET re-publishes all
        if not (connected and self.due and (self._cut or now - self._round_at >= self.every_s)):
            self._counts()
            return
        if not self._cut:
            self._round_at = now
        while self.due and len(self.fly) < self.cap:
            meter = next(iter(self.due))
            seq = self.want[meter]
            r = self.publish(meter, seq)
            # NO_CONN: paho holds it for the next connection (whose _RESET forgets it)
            if r.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.stats["ack_errors"] += 1    # e.g. a message id still in use: retry later
                break
            self.fly[meter] = (r.mid, seq, self.due.pop(meter))
            self.mids[r.mid] = meter
            self.sent[meter] = (seq, now)
            self.stats["acks"] += 1
        self._cut = bool(self.due) and len(self.fly) >= self.cap
        self._counts()

    def _counts(self):
        n = len(self.fly)
        self.stats["ack_inflight"] = n
        self.stats["ack_due"] = len(self.due)
        if n > self.stats["ack_inflight_max"]:
            self.stats["ack_inflight_max"] = n

    def percentiles(self):
        """Set stats ack_lag_p50_s / ack_lag_p99_s from the recent ack lags (None: none yet)."""
        v = sorted(self.lags)
        for name, q in (("ack_lag_p50_s", 0.5), ("ack_lag_p99_s", 0.99)):
            self.stats[name] = round(v[min(len(v) - 1, int(len(v) * q))], 3) if v else None


class Ingest:
    def __init__(self, store, host, port, user=None, password=None, prefix="pm",
                 client_id="gateway-ingest", share=None, queue_size=20000, batch_max=2000,
                 replay_wait=2.0, clock=time.time, keepalive=30, ack_inflight=1000, ca=None,
                 subscribe=True, out_user=None, out_password=None):
        """subscribe=False: connect only to publish commands (an API-only process); another
        process ingests. out_user/out_password: the publishing connection's login (default
        the receiving one's)."""
        self.store = store
        self.host, self.port = host, port
        self.prefix = prefix
        self.share = share
        self.subscribe = subscribe
        self.batch_max = batch_max
        self.replay_wait = replay_wait
        self.clock = clock
        self.keepalive = keepalive
        # SimpleQueue (C): queue.Queue's locking cost 1.2 us per message in paho's thread,
        # which shares the GIL with the writer; the bound is kept here (_on_message)
        self.q = queue.SimpleQueue()
        self.queue_size = queue_size
        self._room = threading.Event()   # set by the writer after each take from the queue
        # connected: every connection this ingest needs is up (in_/out_connected: each one);
        # subscribed: the broker granted the subscriptions of the current connection;
        # refused: CONNACKs that refused a login (bad credentials, not authorised), per side,
        # the newest one's reason in last_refusal;
        # processed: messages the writer has finished with (stored or dead-lettered)
        self.stats = {"connected": False, "in_connected": False, "out_connected": False,
                      "subscribed": False, "connects": 0, "out_connects": 0,
                      "disconnects": 0, "out_disconnects": 0, "refused": 0, "out_refused": 0,
                      "received": 0, "processed": 0, "records": 0, "stored": 0, "duplicates": 0, "dead_letters": 0,
                      "events": 0, "acks": 0, "ack_inflight": 0, "ack_inflight_max": 0,
                      "ack_due": 0, "ack_errors": 0, "ack_lag_p50_s": None,
                      "ack_lag_p99_s": None, "replays": 0, "time_served": 0,
                      "results": 0, "batches": 0, "store_errors": 0, "blocked": 0,
                      "queue": 0, "queue_max": 0, "lag_s": 0.0, "lag_max_s": 0.0,
                      "last_refusal": None}
        self.acks = Acks(lambda meter, seq: self._publish(meter, P.ACK, seq=seq), ack_inflight,
                         self.stats)
        self._woken = False   # a _WAKE is queued for the writer
        self._hk_at = 0.0     # time of the last housekeeping
        self._lag_at = 0.0    # time the ack lag percentiles were last worked out
        self._hc = {}         # meter -> (high contiguous, time it last moved)
        self._top = {}        # meter -> highest seq received
        self._replayed = {}   # meter -> time of the last replay request
        self._behind = set()  # meters whose highest seq received is above their mark
        self._topics = {}     # topic -> (meter, leaf): parsed once per topic, not per message
        self._has_res = hasattr(store, "command_result")
        self._writer = None
        self._stopping = False
        self._sub_mid = None
        # `client` receives, `out` publishes: one connection unless the publishing side has
        # a login of its own (module docstring); an API-only process has only `out`
        self.client = None
        if subscribe:
            c = self.client = self._paho(client_id, user, password, ca)
            c.on_message = self._on_message
            c.on_subscribe = self._on_subscribe
        if self.client is not None and out_user is None:
            o = self.out = self.client
            o.on_connect = self._on_shared_connect
            o.on_disconnect = self._on_shared_disconnect
        else:
            if out_user is None:
                out_user, out_password = user, password
            o = self.out = self._paho(client_id + ("-out" if self.client else ""), out_user,
                                      out_password, ca)
            o.on_connect = self._on_out_connect
            o.on_disconnect = self._on_out_disconnect
            if self.client is not None:
                self.client.on_connect = self._on_connect
                self.client.on_disconnect = self._on_disconnect
        # every ack Acks lets fly goes on the wire at once: at paho's default of 20 in flight
        # the rest waited in paho a broker round trip per 20, and at 100,000 meters live
        # records waited minutes for their ack (host_tools/fleetsim.py)
        o.max_inflight_messages_set(ack_inflight)
        o.on_publish = self._on_publish

    @staticmethod
    def _paho(client_id, user, password, ca):
        # clean_session=False: the broker keeps the session (subscriptions, QoS 1 in flight)
        # across a reconnect
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        clean_session=False, protocol=mqtt.MQTTv311)
        if user:
            c.username_pw_set(user, password)
        if ca:    # TLS: the broker's certificate must verify against this CA (docs/broker.md)
            c.tls_set(ca_certs=str(ca))
        c.reconnect_delay_set(0.2, 5)
        c.max_queued_messages_set(0)
        return c

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self):
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer",
                                        daemon=True)
        self._writer.start()
        for c in self._clients():
            c.connect_async(self.host, self.port, keepalive=self.keepalive)
            c.loop_start()
        return self

    def stop(self, timeout=30):
        """Disconnect, then let the writer finish what is queued."""
        for c in self._clients():
            c.disconnect()
            c.loop_stop()
        self._stopping = True
        self.q.put(_STOP)
        if self._writer:
            self._writer.join(timeout)

    def _clients(self):
        return [c for c in {id(c): c for c in (self.client, self.out) if c}.values()]

    def wait_connected(self, timeout=10):
        """True once connected with the subscriptions granted (if it subscribes): messages
        published from then on reach this ingest."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.stats["connected"] and self.stats["subscribed"]:
                return True
            time.sleep(0.02)
        return False

    def topics(self):
        pre = "$share/%s/" % self.share if self.share else ""
        return ["%s%s/+/%s" % (pre, self.prefix, leaf) for leaf in sorted(P.UP)]

    # ---- paho threads: enqueue only -------------------------------------------------------
    def _refused(self, side, reason):
        """A CONNACK refusing the login: counted and kept for /api/health; paho tries again
        (reconnect_delay_set), so a password fixed on the broker (reload) is picked up."""
        self.stats[side] += 1
        self.stats["last_refusal"] = "%s: %s" % (
            "publishing" if side == "out_refused" else "receiving", reason)

    def _up(self, side, up):
        self.stats[side] = up
        self.stats["connected"] = (self.stats["out_connected"]
                                   and (self.stats["in_connected"] or not self.subscribe))

    def _on_connect(self, client, userdata, flags, reason, props):
        if reason.is_failure:
            return self._refused("refused", reason)
        self._up("in_connected", True)
        self.stats["connects"] += 1
        self._sub_mid = client.subscribe([(t, 1) for t in self.topics()])[1]

    def _on_subscribe(self, client, userdata, mid, reasons, props):
        if mid == self._sub_mid:
            self.stats["subscribed"] = not any(r.is_failure for r in reasons)

    def _on_disconnect(self, client, userdata, flags, reason, props):
        if self.stats["in_connected"]:
            self.stats["disconnects"] += 1
        self.stats["subscribed"] = False
        self._up("in_connected", False)

    def _on_shared_connect(self, client, userdata, flags, reason, props):
        """One connection receives and publishes: both sides' bookkeeping, one refusal."""
        if reason.is_failure:
            return self._refused("refused", reason)
        self._on_connect(client, userdata, flags, reason, props)
        self._on_out_connect(client, userdata, flags, reason, props)

    def _on_shared_disconnect(self, client, userdata, flags, reason, props):
        self._on_disconnect(client, userdata, flags, reason, props)
        self._on_out_disconnect(client, userdata, flags, reason, props)

    def _on_out_connect(self, client, userdata, flags, reason, props):
        if reason.is_failure:
            return self._refused("out_refused", reason)
        self.acks.events.append((_RESET, time.time()))   # before `connected`: no ack goes
        # out on stale marks
        self._up("out_connected", True)
        self.stats["out_connects"] += 1
        if not self.subscribe:   # an API-only process subscribes to nothing
            self.stats["subscribed"] = True
        self._wake()

    def _on_out_disconnect(self, client, userdata, flags, reason, props):
        if self.stats["out_connected"]:
            self.stats["out_disconnects"] += 1
        if not self.subscribe:
            self.stats["subscribed"] = False
        self._up("out_connected", False)
        self._ack_event(_RESET)

    def _on_publish(self, client, userdata, mid, reason, props):
        self._ack_event(mid)

    def _ack_event(self, e):
        self.acks.events.append((e, time.time()))
        if e is _RESET or self.acks._cut:   # else nothing waits for it: the next flush does
            self._wake()

    def _wake(self):
        if not self._woken:           # one _WAKE at a time; the writer clears the flag
            self._woken = True
            self.q.put(_WAKE)         # past the bound too: one at a time

    def _on_message(self, client, userdata, msg):
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(bytes(msg._topic))[:200]
        size = len(msg.payload)
        if size > MSG_MAX:
            item = (topic, bytes(msg.payload[:DEAD_KEEP]), time.time(), size)
        else:
            item = (topic, bytes(msg.payload), time.time())
        self.stats["received"] += 1
        if self.q.qsize() >= self.queue_size:
            self.stats["blocked"] += 1    # back-pressure: wait for the writer, never drop
            while True:
                self._room.clear()        # before the check: a later take sets it again
                if self.q.qsize() < self.queue_size:
                    break
                self._room.wait(0.25)
        self.q.put(item)

    # ---- writer thread ---------------------------------------------------------------------
    def _write_loop(self):
        while True:
            try:
                item = self.q.get(timeout=0.25)
            except queue.Empty:
                self._guard(self._housekeeping, time.time(), ())
                continue
            n = self.q.qsize() + 1   # the queue is longest when the writer comes back to it
            if n > self.stats["queue_max"]:
                self.stats["queue_max"] = n
            items = []
            while item is not _STOP:
                if item is not _WAKE:
                    items.append(item)
                    if len(items) >= self.batch_max:
                        break
                try:
                    item = self.q.get_nowait()
                except queue.Empty:
                    break
            self._room.set()
            if items:
                self._guard(self._process, items)
            else:   # only wakes: apply the PUBACKs; the replay check still runs every 0.25 s
                now = time.time()
                if now - self._hk_at < 0.25:
                    self._guard(self._flush_acks, now)
                else:
                    self._guard(self._housekeeping, now, ())
            if item is _STOP:
                return

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: the writer must survive anything
            self.stats["store_errors"] += 1
            self.last_error = repr(e)

    def _flush_acks(self, now):
        self._woken = False           # before reading the events: a later one wakes again
        self.acks.flush(now, self.stats["out_connected"])

    def _process(self, items):
        now = time.time()
        ops = []
        recs = {}         # meter -> records, merged into one op per meter
        for it in items:
            if len(it) > 3:   # cut in _on_message
                ops.append(O.DeadLetter(it[0], it[1], "too large: %d bytes (at most %d)"
                                        % (it[3], MSG_MAX), it[3]))
                continue
            op = self._validate(it[0], it[1], recs)
            if isinstance(op, list):
                ops.extend(op)
            elif op is not None:
                ops.append(op)
        for mid, rr in recs.items():
            ops.append(O.Records(mid, rr))
        results = self._apply(ops)
        for op, res in zip(ops, results):
            if isinstance(op, O.Records):
                n = len(op.records)
                self.stats["records"] += n
                if isinstance(res, int):
                    self.stats["stored"] += res
                    self.stats["duplicates"] += n - res
            elif isinstance(op, O.DeadLetter):
                self.stats["dead_letters"] += 1
            elif isinstance(op, O.Events):
                self.stats["events"] += 1
            elif isinstance(op, O.CommandResult):
                self.stats["results"] += 1
        self.stats["batches"] += 1
        self.stats["processed"] += len(items)
        lag = now - items[0][2]
        self.stats["lag_s"] = round(lag, 3)
        if lag > self.stats["lag_max_s"]:
            self.stats["lag_max_s"] = round(lag, 3)
        self.stats["queue"] = self.q.qsize()
        self._housekeeping(now, recs)

    def _apply(self, ops):
        """One transaction; if it fails, apply one by one and dead-letter what still fails."""
        if not ops:
            return []
        try:
            return self.store.write_batch(ops)
        except Exception as e:  # noqa: a store error must not lose the other messages
            self.stats["store_errors"] += 1
            self.last_error = repr(e)
        out = []
        for op in ops:
            try:
                out.append(self.store.write_batch([op])[0])
            except Exception as e:  # noqa
                if isinstance(op, O.DeadLetter):
                    topic, body = op.topic, op.payload
                else:
                    topic = "%s/%s/(%s)" % (self.prefix, op.meter_id, op.kind)
                    body = json.dumps(op.data, default=list).encode()
                try:
                    self.store.write_batch([O.DeadLetter(topic, body, "store error: %r" % e)])
                except Exception:  # noqa
                    pass
                out.append(None)
        return out

    def _validate(self, topic, payload, recs):
        """The store operation (or a list of them) for one message, or a dead letter with
        the reason."""
        try:
            parsed = self._topics.get(topic)
            if parsed is None:
                parsed = wire.parse_topic(self.prefix, topic)   # ProtocolError: not cached
                if len(self._topics) >= TOPIC_CACHE:
                    self._topics.clear()
                self._topics[topic] = parsed
            meter, leaf = parsed
            if leaf.startswith(P.CMD):
                raise P.ProtocolError("command topic is not ingested")
            if not self.store.is_registered(meter):
                raise P.ProtocolError("meter not registered")
            if leaf == P.REC:
                rr = wire.decode_batch(payload)[1]
                recs.setdefault(meter, []).extend(rr)
                top = rr[-1][0]
                if top > self._top.get(meter, 0):
                    self._top[meter] = top
                return None
            if leaf == P.LWT:
                if payload not in (P.ONLINE, P.OFFLINE):
                    raise P.ProtocolError("LWT: payload must be Online or Offline")
                return O.Status(meter, {"online": payload == P.ONLINE,
                                        "last_seen": int(time.time())})
            d = P.decode(leaf, payload)
            # tele and info may carry the meter's token memory, which settles token
            # deliveries whose answers were lost (gateway/outbox.py)
            tok = [O.TokenMemory(meter, d["tok"])] if "tok" in d else []
            if leaf == P.TELE:
                return [O.Live(meter, d)] + tok
            if leaf == P.EVT:
                return O.Events(meter, [d])
            if leaf == P.INFO:
                return [O.Status(meter, {"fw": d["fw"], "errors": d.get("errors"),
                                         "last_seen": int(time.time())})] + tok
            if leaf == P.RES:
                return O.CommandResult(meter, d) if self._has_res else O.Events(meter, [dict(
                    d, kind="cmd_result", t=int(time.time()))])
            if leaf == P.TREQ:
                self.send_command(meter, P.TIME, t=int(self.clock()), id=d["id"])
                self.stats["time_served"] += 1
                return None
            raise P.ProtocolError("unhandled leaf %s" % leaf)
        except P.ProtocolError as e:
            return O.DeadLetter(topic, payload, str(e))
        except Exception as e:  # noqa: anything unexpected is still a dead letter, not a crash
            return O.DeadLetter(topic, payload, "invalid: %r" % e)

    def _housekeeping(self, now, touched):
        """Ack the meters just written; ask for replays of holes that stay open."""
        self._hk_at = now
        if touched:
            marks = self.store.high_contiguous_many(touched)
            for mid in touched:
                self._ack(mid, now, marks.get(mid))
        for mid in list(self._behind):    # not every meter: 100,000 of them per batch cost
            top = self._top[mid]
            if now - self._hc[mid][1] < self.replay_wait:
                continue
            if now - self._replayed.get(mid, 0) < self.replay_wait:
                continue
            self._ack(mid, now)           # refresh: maybe it moved without new messages
            h = self._hc[mid][0]
            if top <= h:
                continue
            miss = self.store.missing(mid, 1)
            if miss:
                lo, hi = miss[0]
                self._replayed[mid] = now
                if self.send_command(mid, P.REPLAY, **{"from": lo, "to": hi}):
                    self.stats["replays"] += 1
        self._flush_acks(now)
        if now - self._lag_at >= LAG_EVERY_S:
            self._lag_at = now
            self.acks.percentiles()

    def _ack(self, mid, now, h=False):
        """h: the meter's mark when the caller read it (None: not registered)."""
        if h is False:
            h = self.store.high_contiguous(mid)
        if h is None:
            return
        old = self._hc.get(mid)
        if old is None or h != old[0]:
            self._hc[mid] = (h, now)
        if self._top.get(mid, 0) > h:
            self._behind.add(mid)
        else:
            self._behind.discard(mid)
        if h > 0:
            self.acks.set(mid, h, now)

    # ---- commands to meters ------------------------------------------------------------------
    def send_command(self, meter_id, kind, **fields):
        """Publish a validated command (docs/protocol.md) to one meter. True if sent or
        queued by paho for the next connection."""
        return self._publish(meter_id, kind, **fields).rc in (mqtt.MQTT_ERR_SUCCESS,
                                                               mqtt.MQTT_ERR_NO_CONN)

    def _publish(self, meter_id, kind, **fields):
        qos, retain = P.DOWN[kind]
        return self.out.publish(P.cmd_topic(self.prefix, meter_id, kind),
                                   P.encode(kind, **fields), qos=qos, retain=retain)
