"""gateway/ingest.py through a real mosquitto into a real SQLite store: idempotent records,
acks, gap detection and replay requests, gap markers, time service, LWT, dead letters with
reasons for every kind of malformed payload, back-pressure without loss, and acks that
stay bounded and reach their final values under a backlog and across broker kills."""
import json
import signal
import threading
import time
from functools import partial

import paho.mqtt.client as mqtt
import pytest

import fixtures
from broker import Broker
from fixtures import batch
from waits import subscribe, wait_until
from gateway.ingest import Ingest
from gateway.store import Store
from prepay import protocol as P
from prepay.record import F_GAP

T0 = 1767225600


rec = partial(fixtures.rec, t0=T0, avg_dw=1000, i_ma=4000, pf_m=900)


class Meter:
    """A CPython stand-in for the meter's MQTT side, publishing crafted payloads."""

    def __init__(self, b, mid="m-1"):
        self.mid = mid
        self.cmds = []
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-" + mid)
        c.on_message = lambda c, u, m: self.cmds.append((m.topic.rsplit("/", 1)[1],
                                                         json.loads(m.payload), m.retain))
        c.connect(b.host, b.port)
        c.loop_start()
        subscribe(c, "pm/%s/cmd/#" % mid)

    def pub(self, leaf, payload, mid=None, topic=None):
        t = topic or "pm/%s/%s" % (mid or self.mid, leaf)
        self.c.publish(t, payload, qos=1).wait_for_publish(5)

    def wait(self, kind, pred=lambda d: True, timeout=5):
        d = wait_until(lambda: next((d for k, d, r in list(self.cmds)
                                     if k == kind and pred(d)), None), timeout)
        assert d, "no %s command; got %s" % (kind, self.cmds)
        return d

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def gw(tmp_path, db):
    b = Broker(tmp_path / "mq").start()      # anonymous: malformed topics must reach ingest
    store = Store(db("gw.db"))
    store.register_meter("m-1", interval_s=60)
    ing = Ingest(store, b.host, b.port, replay_wait=0.5, clock=lambda: T0 + 12345).start()
    assert ing.wait_connected()
    m = Meter(b)
    yield b, store, ing, m
    m.close()
    ing.stop()
    store.close()
    b.stop()


def settle(ing, n, timeout=10):
    """Wait until ingest's writer is done with n messages (stored or dead-lettered)."""
    assert wait_until(lambda: ing.stats["processed"] >= n, timeout), \
        "ingest processed %d of %d messages" % (ing.stats["processed"], n)


def test_records_idempotent_and_acked(gw):
    b, store, ing, m = gw
    m.pub("rec", batch([rec(s) for s in range(1, 11)]))
    m.pub("rec", batch([rec(s) for s in range(5, 11)], flags=P.R_REPLAY))
    m.pub("rec", batch([rec(11)]))
    settle(ing, 3)
    assert store.query("SELECT count(*) n, min(seq) lo, max(seq) hi FROM raw")[0] == \
        {"n": 11, "lo": 1, "hi": 11}
    assert ing.stats["stored"] == 11 and ing.stats["duplicates"] == 6
    assert m.wait("ack", lambda d: d["seq"] == 11)
    assert any(k == "ack" and r is False for k, d, r in m.cmds)  # live delivery
    # the ack is retained: a reconnecting meter learns it at once
    again = Meter(b, "m-1")
    assert again.wait("ack", lambda d: d["seq"] == 11)
    assert [r for k, d, r in again.cmds if k == "ack"] == [True]
    again.close()


def test_hole_triggers_replay_request_then_fills(gw):
    b, store, ing, m = gw
    m.pub("rec", batch([rec(s) for s in range(1, 11)]))
    m.pub("rec", batch([rec(s) for s in range(14, 21)]))   # 11..13 lost in transit
    settle(ing, 2)
    r = m.wait("replay")
    assert (r["from"], r["to"]) == (11, 13)
    assert store.high_contiguous("m-1") == 10
    m.pub("rec", batch([rec(s) for s in range(11, 14)], flags=P.R_REPLAY))
    settle(ing, 3)
    assert store.high_contiguous("m-1") == 20
    assert m.wait("ack", lambda d: d["seq"] == 20)
    assert ing.stats["replays"] >= 1


def test_gap_marker_declares_dropped_range(gw):
    b, store, ing, m = gw
    m.pub("rec", batch([rec(s) for s in range(1, 6)]))
    # seqs 6..8 were dropped by a full journal: record 9 carries the marker (wh = 6)
    m.pub("rec", batch([rec(9, wh=6, flags=F_GAP), rec(10), rec(11)]))
    settle(ing, 2)
    assert store.high_contiguous("m-1") == 11 and store.missing("m-1") == []
    assert m.wait("ack", lambda d: d["seq"] == 11)
    assert ing.stats["replays"] == 0


def test_time_request_served(gw):
    b, store, ing, m = gw
    m.pub("treq", P.encode(P.TREQ, id=7, t=100, rtc=False))
    d = m.wait("time")
    assert d == {"ver": 1, "t": T0 + 12345, "id": 7}
    assert ing.stats["time_served"] == 1


def test_lwt_tele_info_events(gw):
    b, store, ing, m = gw
    m.pub("LWT", P.ONLINE)
    m.pub("info", P.encode(P.INFO, fw="1.2.3", board="unix_sim", source="pzem", interval_s=60,
                           boot=3, rtc=True, t=T0))
    m.pub("tele", P.encode(P.TELE, t=T0, wh=5, p=1.0, v=230.0, i=0.1, pf=1.0, hz=50.0,
                           status="ok", relay=True, credit=99, seq=3, ack=2, backlog=1))
    m.pub("evt", P.encode(P.EVT, seq=(3 << 20) | 1, t=T0, kind="relay", closed=True,
                          reason="credit"))
    settle(ing, 4)
    info = store.meter("m-1")
    assert info["online"] is True and info["fw"] == "1.2.3"
    assert store.query("SELECT kind FROM events") == [{"kind": "relay"}]
    m.pub("LWT", P.OFFLINE)
    settle(ing, 5)
    assert store.meter("m-1")["online"] is False


GOOD_TELE = json.loads(P.encode(P.TELE, t=T0, wh=5, p=1.0, v=230.0, i=0.1, pf=1.0, hz=50.0,
                                status="ok", relay=True, credit=99, seq=3, ack=2, backlog=1))
BAD_CRC = bytearray(batch([rec(1)]))
BAD_CRC[10] ^= 0xFF
DEAD = [
    ("pm/m-1/tele", b"{not json", "tele: not valid JSON"),
    ("pm/m-1/tele", b"\xff\xfe", "tele: not valid JSON"),
    ("pm/m-1/tele", json.dumps(dict(GOOD_TELE, ver=2)).encode(), "tele: unsupported or missing ver"),
    ("pm/m-1/tele", json.dumps({k: v for k, v in GOOD_TELE.items() if k != "wh"}).encode(),
     "tele: missing wh"),
    ("pm/m-1/tele", json.dumps(dict(GOOD_TELE, wh="5")).encode(), "tele: wh has wrong type"),
    ("pm/m-1/tele", json.dumps(dict(GOOD_TELE, extra=1)).encode(), "tele: unknown key extra"),
    ("pm/m-1/tele", b"[1, 2]", "tele: not a JSON object"),
    ("pm/m-1/tele", b"{" + b" " * 3000 + b"}", "tele: payload too large"),
    ("pm/m-1/evt", P.encode(P.EVT, seq=1, t=1, kind="relay").replace(b"relay", b"hack"),
     "evt: unknown event kind hack"),
    ("pm/m-1/rec", b"", "rec: shorter than header"),
    ("pm/m-1/rec", batch([rec(1)])[:-1], "rec: length 39 does not match count 1"),
    ("pm/m-1/rec", bytes(BAD_CRC), "rec: record 0 bad CRC"),
    ("pm/m-1/rec", batch([rec(2), rec(1)]), "rec: seq not increasing at record 1"),
    ("pm/m-1/rec", b"\x02" + batch([rec(1)])[1:], "rec: unsupported version 2"),
    ("pm/m-1/rec", batch([rec(0)]), "rec: seq 0 is invalid"),
    ("pm/m-1/rec", batch([rec(5, wh=7, flags=F_GAP)]), "rec: gap marker range invalid"),
    ("pm/m-1/LWT", b"online", "LWT: payload must be Online or Offline"),
    ("pm/m-2/tele", P.encode(P.TELE, **{k: v for k, v in GOOD_TELE.items() if k != "ver"}),
     "meter not registered"),
    ("pm/M-1/tele", b"{}", "bad meter id in topic"),
    ("pm/m-1/other", b"{}", "unknown topic leaf"),
    ("pm/m-1/cmd/ack", b"{}", "command topic is not ingested"),
    ("elsewhere/m-1/tele", b"{}", "topic not under pm/<meter>/"),
]


def test_malformed_payloads_are_dead_lettered_with_reasons(gw):
    b, store, ing, m = gw
    # ingest only subscribes to pm/+/<leaf>; other topics reach it when a broker bridges or
    # a subscription is widened, so they are fed to the same validation directly as well
    for topic, payload, _ in DEAD:
        if topic.startswith("pm/") and topic.count("/") == 2 and topic.split("/")[2] in P.UP:
            m.pub(None, payload, topic=topic)
        else:
            ing.q.put((topic, payload, time.time()))
    settle(ing, len(DEAD))
    rows = store.query("SELECT topic, payload, reason FROM dead_letters ORDER BY id")
    got = {(r["topic"], bytes(r["payload"]), r["reason"]) for r in rows}
    for topic, payload, reason in DEAD:
        assert (topic, payload, reason) in got, (topic, reason, rows[-3:])
    assert ing.stats["dead_letters"] == len(DEAD)
    assert store.query("SELECT count(*) n FROM raw")[0]["n"] == 0
    # ingest is still healthy afterwards
    m.pub("rec", batch([rec(1)]))
    settle(ing, len(DEAD) + 1)
    assert store.high_contiguous("m-1") == 1


def test_full_queue_blocks_instead_of_dropping(tmp_path, db):
    b = Broker(tmp_path / "mq").start()
    store = Store(db("gw.db"))
    store.register_meter("m-1")
    ing = Ingest(store, b.host, b.port, queue_size=4, batch_max=2, client_id="slow")
    real = store.write_batch

    def write_batch(items):          # a slow database: 5 ms per transaction
        time.sleep(0.005)
        return real(items)
    store.write_batch = write_batch
    ing.start()
    assert ing.wait_connected()
    m = Meter(b)
    n = 300
    for s in range(1, n + 1):
        m.c.publish("pm/m-1/rec", batch([rec(s)]), qos=1)
    settle(ing, n, timeout=30)
    assert ing.stats["blocked"] > 0 and ing.stats["stored"] == n
    assert store.high_contiguous("m-1") == n
    m.close(), ing.stop(), store.close(), b.stop()


# ---- acks are coalesced state: never stalled by PUBACKs, never lost across broker restarts ----

class AckWatch:
    """The newest cmd/ack per meter as a meter would see it (retained, then live)."""

    def __init__(self, b):
        self.acks = {}
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ack-watch")
        c.on_message = lambda c, u, m: self.acks.__setitem__(m.topic.split("/")[1],
                                                             json.loads(m.payload)["seq"])
        c.on_connect = lambda c, u, f, r, p: c.subscribe("pm/+/cmd/ack", 1)
        c.connect(b.host, b.port)
        c.loop_start()

    def wait(self, want, timeout=60):
        """True once every meter in `want` ({meter: seq}) has that ack."""
        return wait_until(lambda: all(self.acks.get(m) == s for m, s in want.items()), timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def feed(ing, meters, seqs):
    """Records straight into ingest's queue, meters interleaved as a fleet sends them: the
    acks they cause are what is under test, and they go through the real broker."""
    for s in seqs:
        for m in meters:
            ing.q.put(("pm/%s/rec" % m, batch([rec(s)]), time.time()))


def fleet(db, n):
    store = Store(db("gw.db"))
    meters = ["m-%03d" % i for i in range(n)]
    for m in meters:
        store.register_meter(m, interval_s=60)
    return store, meters


def stored(store, meters, seq, ing, timeout=120):
    return wait_until(lambda: ing.q.empty() and all(store.high_contiguous(m) == seq
                                                    for m in meters), timeout)


class PahoQueue(threading.Thread):
    """The most QoS 1 messages paho held unacknowledged at once (its message ids in use)."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.max, self.running = client, 0, True
        self.start()

    def run(self):
        while self.running:
            self.max = max(self.max, len(self.client._out_messages))
            time.sleep(0.002)


def test_acks_coalesce_under_backlog_and_never_stall(tmp_path, db):
    """80,000 meter-batches to ack (100 meters x 800 seqs, one record per message, 100
    messages per write batch), 60,000 of them while the broker is hung: one publish each would
    need more message ids than paho has (65,535). In flight stays at most the cap, and every
    meter's retained ack ends at its last seq."""
    b = Broker(tmp_path / "mq").start()
    store, meters = fleet(db, 100)
    cap = 32
    ing = Ingest(store, b.host, b.port, batch_max=100, ack_inflight=cap, client_id="gw-ack")
    ing.start()
    assert ing.wait_connected()
    watch = AckWatch(b)
    paho = PahoQueue(ing.out)   # acks go out on the publishing connection
    try:
        feed(ing, meters, range(1, 201))
        b.proc.send_signal(signal.SIGSTOP)     # a hung broker: no PUBACK comes back
        try:
            feed(ing, meters, range(201, 801))
            assert stored(store, meters, 800, ing)
            assert ing.stats["ack_inflight"] == cap and ing.stats["ack_due"] > 0
        finally:
            b.proc.send_signal(signal.SIGCONT)
        assert watch.wait(dict.fromkeys(meters, 800)), watch.acks
        paho.running = False
        st = ing.stats
        print("\n%d meter-batches to ack: %d acks published, max %d in flight (paho max %d)"
              % (st["batches"] * 100, st["acks"], st["ack_inflight_max"], paho.max))
        assert st["ack_inflight_max"] == cap and paho.max <= cap, (st, paho.max)
        assert st["ack_errors"] == 0 and st["store_errors"] == 0
        assert st["acks"] < 80000                 # coalesced
        # a meter that (re)subscribes now gets the final ack retained
        again = AckWatch(b)
        assert again.wait(dict.fromkeys(meters, 800), timeout=10)
        again.close()
    finally:
        paho.running = False
        watch.close()
        ing.stop()
        store.close()
        b.stop()


def test_refused_ack_publish_stays_pending(tmp_path, db):
    """paho refuses publishes past its queue limit (MQTT_ERR_QUEUE_SIZE, as when message ids
    run out): those acks stay due and go out once PUBACKs free room."""
    b = Broker(tmp_path / "mq").start()
    store, meters = fleet(db, 20)
    ing = Ingest(store, b.host, b.port, batch_max=20, client_id="gw-refused")
    ing.out.max_queued_messages_set(8)   # the acks' connection
    ing.start()
    assert ing.wait_connected()
    watch = AckWatch(b)
    try:
        b.proc.send_signal(signal.SIGSTOP)
        try:
            feed(ing, meters, range(1, 51))
            assert stored(store, meters, 50, ing)
            assert wait_until(lambda: ing.stats["ack_errors"] > 0, 30)
            assert ing.stats["ack_inflight"] == 8 and ing.stats["ack_due"] == 12
        finally:
            b.proc.send_signal(signal.SIGCONT)
        assert watch.wait(dict.fromkeys(meters, 50)), (watch.acks, ing.stats)
        assert ing.stats["store_errors"] == 0
    finally:
        watch.close()
        ing.stop()
        store.close()
        b.stop()


def test_acks_reach_final_values_across_broker_kills(tmp_path, db):
    """The broker is SIGKILLed six times: five with acks in flight (the broker hung first, so
    their PUBACKs never come) and records arriving before, during and after the outage; the
    last right after every ack was PUBACKed (so the broker may lose them with its retained
    store before its autosave). After each reconnect every meter's retained ack reaches its
    final value."""
    b = Broker(tmp_path / "mq").start()
    store, meters = fleet(db, 50)
    cap = 16
    ing = Ingest(store, b.host, b.port, batch_max=50, ack_inflight=cap, client_id="gw-kill")
    ing.start()
    assert ing.wait_connected()
    top = 0
    try:
        for round_ in range(5):
            feed(ing, meters, range(top + 1, top + 41))
            top += 40
            b.proc.send_signal(signal.SIGSTOP)
            feed(ing, meters, range(top + 1, top + 41))
            top += 40
            assert stored(store, meters, top, ing)
            # published (in the next round of acks, Acks.every_s), never PUBACKed
            assert wait_until(lambda: ing.stats["ack_inflight"] > 0, 10)
            b.kill()
            assert wait_until(lambda: not ing.stats["connected"], 30)
            feed(ing, meters, range(top + 1, top + 21))  # stored during the outage
            top += 20
            assert stored(store, meters, top, ing)
            b.start()
            assert wait_until(lambda: ing.stats["connects"] == round_ + 2, 30)
            feed(ing, meters, range(top + 1, top + 21))  # and after the reconnect
            top += 20
            watch = AckWatch(b)
            ok = watch.wait(dict.fromkeys(meters, top))
            watch.close()
            assert ok, (round_, top, watch.acks, ing.stats)
        # every ack PUBACKed, then the broker dies before it saves them: the reconnect
        # publishes every meter's current ack again
        assert wait_until(lambda: ing.stats["ack_inflight"] == 0
                          and ing.stats["ack_due"] == 0, 30)
        b.restart(kill=True)
        assert wait_until(lambda: ing.stats["connects"] == 7, 30)
        watch = AckWatch(b)
        assert watch.wait(dict.fromkeys(meters, top)), (watch.acks, ing.stats)
        watch.close()
        st = ing.stats
        print("\n%d kills: %d acks published, max %d in flight, %d disconnects"
              % (b.starts - 1, st["acks"], st["ack_inflight_max"], st["disconnects"]))
        assert st["ack_inflight_max"] <= cap and st["store_errors"] == 0
    finally:
        ing.stop()
        store.close()
        b.stop()

