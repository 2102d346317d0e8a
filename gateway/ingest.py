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
"""
import collections
import json
import queue
import threading
import time

import paho.mqtt.client as mqtt

from prepay import protocol as P
from prepay import wire

_STOP = object()
_WAKE = object()    # queued by paho's thread: ack events wait (Acks.events)
_RESET = object()   # an ack event: the connection dropped or came back


class Acks:
    """Coalesced acks. An ack is state (the newest contiguous seq of a meter), not a message
    stream: a publish per write batch outran its PUBACKs under a backlog until paho's 65,535
    message ids ran out and acks stopped. So each meter has at most one ack in flight (and
    all meters together at most `cap`); a newer value waits in `due` and goes out when the
    one in flight is PUBACKed, and only the newest is sent.

    A reconnect forgets every in-flight ack (its PUBACK may never come, or came from a broker
    that then lost it with its retained store) and re-publishes the current ack of every
    meter. The writer thread owns all this state; paho's thread only appends PUBACKed mids
    and _RESET to `events`, which the writer applies in `flush`, so a mid is always
    recorded before its completion is looked up and no lock is held across publish()."""

    def __init__(self, publish, cap, stats):
        self.publish = publish       # (meter, seq) -> paho MQTTMessageInfo
        self.cap = cap
        self.stats = stats
        self.events = collections.deque()
        self.want = {}               # meter -> newest seq to ack
        self.sent = {}               # meter -> (seq, time) last handed to paho
        self.fly = {}                # meter -> (mid, seq) awaiting its PUBACK
        self.mids = {}               # mid -> meter, for fly
        self.due = {}                # meters (insertion-ordered, not in fly) to publish

    def set(self, meter, seq, now):
        """Ack `seq` when it moved, and again at most once a second when the meter keeps
        sending what is already stored (its ack was lost)."""
        self.want[meter] = seq
        last = self.sent.get(meter)
        if last is not None and seq == last[0] and now - last[1] < 1.0:
            return
        if meter not in self.fly:
            self.due[meter] = None

    def flush(self, now, connected):
        """Apply paho's events, then publish due acks while under the cap."""
        while self.events:
            e = self.events.popleft()
            if e is _RESET:
                self.mids.clear()
                self.fly.clear()
                self.due.update(dict.fromkeys(self.want))
            else:
                meter = self.mids.pop(e, None)
                if meter is not None:        # else another command, or an ack forgotten
                    seq = self.fly.pop(meter)[1]
                    if self.want[meter] != seq:
                        self.due[meter] = None
        # while disconnected nothing is published: the reconnect's _RESET re-publishes all
        while connected and self.due and len(self.fly) < self.cap:
            meter = next(iter(self.due))
            seq = self.want[meter]
            r = self.publish(meter, seq)
            # NO_CONN: paho holds it for the next connection (whose _RESET forgets it)
            if r.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.stats["ack_errors"] += 1    # e.g. a message id still in use: retry later
                break
            del self.due[meter]
            self.fly[meter] = (r.mid, seq)
            self.mids[r.mid] = meter
            self.sent[meter] = (seq, now)
            self.stats["acks"] += 1
        n = len(self.fly)
        self.stats["ack_inflight"] = n
        self.stats["ack_due"] = len(self.due)
        if n > self.stats["ack_inflight_max"]:
            self.stats["ack_inflight_max"] = n


class Ingest:
    def __init__(self, store, host, port, user=None, password=None, prefix="pm",
                 client_id="gateway-ingest", share=None, queue_size=20000, batch_max=2000,
                 replay_wait=2.0, clock=time.time, keepalive=30, ack_inflight=1000):
        self.store = store
        self.host, self.port = host, port
        self.prefix = prefix
        self.share = share
        self.batch_max = batch_max
        self.replay_wait = replay_wait
        self.clock = clock
        self.keepalive = keepalive
        self.q = queue.Queue(maxsize=queue_size)
        self.stats = {"connected": False, "connects": 0, "disconnects": 0, "received": 0,
                      "records": 0, "stored": 0, "duplicates": 0, "dead_letters": 0,
                      "events": 0, "acks": 0, "ack_inflight": 0, "ack_inflight_max": 0,
                      "ack_due": 0, "ack_errors": 0, "replays": 0, "time_served": 0,
                      "results": 0, "batches": 0, "store_errors": 0, "blocked": 0,
                      "queue": 0, "queue_max": 0, "lag_s": 0.0, "lag_max_s": 0.0}
        self.acks = Acks(lambda meter, seq: self._publish(meter, P.ACK, seq=seq), ack_inflight,
                         self.stats)
        self._woken = False   # a _WAKE is queued for the writer
        self._hk_at = 0.0     # time of the last housekeeping
        self._hc = {}         # meter -> (high contiguous, time it last moved)
        self._top = {}        # meter -> highest seq received
        self._replayed = {}   # meter -> time of the last replay request
        self._has_res = hasattr(store, "command_result")
        self._writer = None
        self._stopping = False
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                      clean_session=False, protocol=mqtt.MQTTv311)
        if user:
            c.username_pw_set(user, password)
        c.reconnect_delay_set(0.2, 5)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self):
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer",
                                        daemon=True)
        self._writer.start()
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        return self

    def stop(self, timeout=30):
        """Disconnect, then let the writer finish what is queued."""
        self.client.disconnect()
        self.client.loop_stop()
        self._stopping = True
        self.q.put(_STOP)
        if self._writer:
            self._writer.join(timeout)

    def wait_connected(self, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.stats["connected"]:
                return True
            time.sleep(0.02)
        return False

    def topics(self):
        pre = "$share/%s/" % self.share if self.share else ""
        return ["%s%s/+/%s" % (pre, self.prefix, leaf) for leaf in sorted(P.UP)]

    # ---- paho thread: enqueue only ---------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason, props):
        if reason.is_failure:
            return
        self.acks.events.append(_RESET)   # before `connected`: no ack goes out on stale marks
        self.stats["connected"] = True
        self.stats["connects"] += 1
        client.subscribe([(t, 1) for t in self.topics()])
        self._wake()

    def _on_disconnect(self, client, userdata, flags, reason, props):
        if self.stats["connected"]:
            self.stats["disconnects"] += 1
        self.stats["connected"] = False
        self._ack_event(_RESET)

    def _on_publish(self, client, userdata, mid, reason, props):
        self._ack_event(mid)

    def _ack_event(self, e):
        self.acks.events.append(e)
        self._wake()

    def _wake(self):
        if not self._woken:           # one _WAKE at a time; the writer clears the flag
            self._woken = True
            try:
                self.q.put_nowait(_WAKE)
            except queue.Full:
                pass                  # the writer is busy and flushes after its batch

    def _on_message(self, client, userdata, msg):
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(bytes(msg._topic))[:200]
        item = (topic, bytes(msg.payload), time.time())
        self.stats["received"] += 1
        try:
            self.q.put_nowait(item)
        except queue.Full:
            self.stats["blocked"] += 1    # back-pressure: wait for the writer, never drop
            self.q.put(item)
        n = self.q.qsize()
        if n > self.stats["queue_max"]:
            self.stats["queue_max"] = n

    # ---- writer thread ---------------------------------------------------------------------
    def _write_loop(self):
        while True:
            try:
                item = self.q.get(timeout=0.25)
            except queue.Empty:
                self._guard(self._housekeeping, time.time(), ())
                continue
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
        self.acks.flush(now, self.stats["connected"])

    def _process(self, items):
        now = time.time()
        ops = []
        recs = {}         # meter -> records, merged into one op per meter
        for topic, payload, t in items:
            op = self._validate(topic, payload, recs)
            if op is not None:
                ops.append(op)
        for mid, rr in recs.items():
            ops.append(("records", mid, rr))
        results = self._apply(ops)
        for op, res in zip(ops, results):
            k = op[0]
            if k == "records":
                n = len(op[2])
                self.stats["records"] += n
                if isinstance(res, int):
                    self.stats["stored"] += res
                    self.stats["duplicates"] += n - res
            elif k == "dead":
                self.stats["dead_letters"] += 1
            elif k == "events":
                self.stats["events"] += 1
            elif k == "res":
                self.stats["results"] += 1
        self.stats["batches"] += 1
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
                body = op[3] if op[0] == "dead" else json.dumps(op[2], default=list).encode()
                topic = op[1] if op[0] == "dead" else "%s/%s/(%s)" % (self.prefix, op[1], op[0])
                try:
                    self.store.write_batch([("dead", topic, body, "store error: %r" % e)])
                except Exception:  # noqa
                    pass
                out.append(None)
        return out

    def _validate(self, topic, payload, recs):
        """The store operation for one message, or a dead letter with the reason."""
        try:
            meter, leaf = wire.parse_topic(self.prefix, topic)
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
                return ("status", meter, {"online": payload == P.ONLINE,
                                          "last_seen": int(time.time())})
            d = P.decode(leaf, payload)
            if leaf == P.TELE:
                return ("live", meter, d)
            if leaf == P.EVT:
                return ("events", meter, [d])
            if leaf == P.INFO:
                return ("status", meter, {"fw": d["fw"], "errors": d.get("errors"),
                                          "last_seen": int(time.time())})
            if leaf == P.RES:
                return ("res", meter, d) if self._has_res else ("events", meter, [dict(
                    d, kind="cmd_result", t=int(time.time()))])
            if leaf == P.TREQ:
                self.send_command(meter, P.TIME, t=int(self.clock()), id=d["id"])
                self.stats["time_served"] += 1
                return None
            raise P.ProtocolError("unhandled leaf %s" % leaf)
        except P.ProtocolError as e:
            return ("dead", topic, payload, str(e))
        except Exception as e:  # noqa: anything unexpected is still a dead letter, not a crash
            return ("dead", topic, payload, "invalid: %r" % e)

    def _housekeeping(self, now, touched):
        """Ack the meters just written; ask for replays of holes that stay open."""
        self._hk_at = now
        for mid in touched:
            self._ack(mid, now)
        for mid, top in list(self._top.items()):
            h = self._hc.get(mid, (None, now))[0]
            if h is None or top <= h:
                continue
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

    def _ack(self, mid, now):
        h = self.store.high_contiguous(mid)
        if h is None:
            return
        old = self._hc.get(mid)
        if old is None or h != old[0]:
            self._hc[mid] = (h, now)
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
        return self.client.publish(P.cmd_topic(self.prefix, meter_id, kind),
                                   P.encode(kind, **fields), qos=qos, retain=retain)
