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
contiguous seq of every meter it touched (retained cmd/ack), and asks for a replay of the
first hole of a meter whose contiguous mark has not moved for `replay_wait` seconds. It
answers time requests (cmd/time) from `clock`, and tracks online/offline from the LWT.
Only meters registered by provisioning are accepted. docs/protocol.md is the contract.
"""
import json
import queue
import threading
import time

import paho.mqtt.client as mqtt

from prepay import protocol as P
from prepay import wire

_STOP = object()


class Ingest:
    def __init__(self, store, host, port, user=None, password=None, prefix="pm",
                 client_id="gateway-ingest", share=None, queue_size=20000, batch_max=2000,
                 replay_wait=2.0, clock=time.time, keepalive=30):
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
                      "events": 0, "acks": 0, "replays": 0, "time_served": 0, "results": 0,
                      "batches": 0, "store_errors": 0, "blocked": 0, "queue": 0,
                      "queue_max": 0, "lag_s": 0.0, "lag_max_s": 0.0}
        self._acked = {}      # meter -> (seq, time) of the last ack published
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
        self.stats["connected"] = True
        self.stats["connects"] += 1
        client.subscribe([(t, 1) for t in self.topics()])

    def _on_disconnect(self, client, userdata, flags, reason, props):
        if self.stats["connected"]:
            self.stats["disconnects"] += 1
        self.stats["connected"] = False

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
                self._housekeeping(time.time(), ())
                continue
            items = []
            while item is not _STOP:
                items.append(item)
                if len(items) >= self.batch_max:
                    break
                try:
                    item = self.q.get_nowait()
                except queue.Empty:
                    break
            if items:
                try:
                    self._process(items)
                except Exception as e:  # noqa: the writer must survive anything
                    self.stats["store_errors"] += 1
                    self.last_error = repr(e)
            if item is _STOP:
                return

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

    def _ack(self, mid, now):
        h = self.store.high_contiguous(mid)
        if h is None:
            return
        old = self._hc.get(mid)
        if old is None or h != old[0]:
            self._hc[mid] = (h, now)
        last = self._acked.get(mid)
        # ack when the mark moved, and re-ack at most once a second when the meter keeps
        # sending what is already stored (its ack was lost)
        if h > 0 and (last is None or h != last[0] or now - last[1] >= 1.0):
            if self.send_command(mid, P.ACK, seq=h):
                self._acked[mid] = (h, now)
                self.stats["acks"] += 1

    # ---- commands to meters ------------------------------------------------------------------
    def send_command(self, meter_id, kind, **fields):
        """Publish a validated command (docs/protocol.md) to one meter. True if sent or
        queued by paho for the next connection."""
        qos, retain = P.DOWN[kind]
        payload = P.encode(kind, **fields)
        r = self.client.publish(P.cmd_topic(self.prefix, meter_id, kind), payload, qos=qos,
                                retain=retain)
        return r.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)
