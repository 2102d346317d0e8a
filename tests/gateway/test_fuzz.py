"""Fuzz ingest through a real mosquitto: malformed, oversized, wrong-type and wrong-topic
payloads. Zero crashes, every one dead-lettered with a reason, its first bytes and its size, nothing
else written, and valid traffic interleaved with the garbage is still stored exactly."""
import json
import random
from functools import partial

import paho.mqtt.client as mqtt

from gateway.ingest import MSG_MAX, Ingest
from gateway.schema import DEAD_KEEP
from gateway.storage import ops as O
from gateway.store import Store
from prepay import protocol as P
from prepay import record

import fixtures
from fixtures import batch
from waits import wait_until

T0 = 1_750_000_000
rec = partial(fixtures.rec, t0=T0, avg_dw=1000, i_ma=500, credit=1000)


def js(**kw):
    return json.dumps(kw).encode()


TELE = dict(ver=1, t=T0, wh=10, p=1.0, v=230.0, i=0.1, pf=0.9, hz=50.0, status="ok", relay=True,
            credit=100, seq=1, ack=0, backlog=0)


def corpus(rnd):
    """(topic, payload, class) of bad messages; every one must be dead-lettered."""
    good = batch([rec(1, 10), rec(2, 20)])
    bad_crc = bytearray(good)
    bad_crc[10] ^= 0xFF
    cases = [
        # malformed record batches
        ("pm/m-1/rec", b"", "malformed"),
        ("pm/m-1/rec", b"\x01\x00", "malformed"),
        ("pm/m-1/rec", good[:-1], "malformed"),
        ("pm/m-1/rec", good + b"\x00", "malformed"),
        ("pm/m-1/rec", bytes(bad_crc), "malformed"),
        ("pm/m-1/rec", batch([rec(1, 10)], ver=2), "malformed"),
        ("pm/m-1/rec", batch([rec(1, 10)], count=0), "malformed"),
        ("pm/m-1/rec", batch([rec(3, 10), rec(2, 20)]), "malformed"),
        ("pm/m-1/rec", batch([rec(3, 10), rec(3, 20)]), "malformed"),
        ("pm/m-1/rec", batch([rec(0, 10)]), "malformed"),
        ("pm/m-1/rec", batch([rec(5, 9, flags=record.F_GAP)]), "malformed"),  # range past itself
        ("pm/m-1/rec", batch([rec(5, 0, flags=record.F_GAP)]), "malformed"),
        # malformed JSON
        ("pm/m-1/tele", b"{", "malformed"),
        ("pm/m-1/tele", b"\xff\xfe\x00", "malformed"),
        ("pm/m-1/evt", b"[" * 1000 + b"]" * 1000, "malformed"),
        ("pm/m-1/info", b"NaN", "malformed"),
        ("pm/m-1/LWT", b"online", "malformed"),
        ("pm/m-1/LWT", b"", "malformed"),
        # wrong types and schemas
        ("pm/m-1/tele", b"[1, 2, 3]", "wrong-type"),
        ("pm/m-1/tele", b'"tele"', "wrong-type"),
        ("pm/m-1/tele", b"null", "wrong-type"),
        ("pm/m-1/tele", json.dumps(dict(TELE, wh="10")).encode(), "wrong-type"),
        ("pm/m-1/tele", json.dumps(dict(TELE, relay=1)).encode(), "wrong-type"),
        ("pm/m-1/tele", json.dumps(dict(TELE, credit=True)).encode(), "wrong-type"),
        ("pm/m-1/tele", json.dumps(dict(TELE, ver=2)).encode(), "wrong-type"),
        ("pm/m-1/tele", json.dumps({k: v for k, v in TELE.items() if k != "ver"}).encode(),
         "wrong-type"),
        ("pm/m-1/tele", json.dumps(dict(TELE, extra=1)).encode(), "wrong-type"),
        ("pm/m-1/evt", js(ver=1, seq=1, t=T0, kind="explosion"), "wrong-type"),
        ("pm/m-1/evt", js(ver=1, seq=1, t=T0, kind="relay", closed={"a": 1}), "wrong-type"),
        ("pm/m-1/evt", js(ver=1, seq="1", t=T0, kind="relay"), "wrong-type"),
        ("pm/m-1/info", js(ver=1, fw=1, board="b", source="pzem", interval_s=60, boot=1,
                           rtc=True, t=T0), "wrong-type"),
        ("pm/m-1/res", js(ver=1, id=5, cmd="token", ok=True), "wrong-type"),
        ("pm/m-1/treq", js(ver=1, id=1, t=T0), "wrong-type"),
        # oversized
        ("pm/m-1/rec", bytes(4 + 256 * 36), "oversized"),
        ("pm/m-1/rec", b"\x01\x00\xff\x00" + rnd.randbytes(300_000), "oversized"),
        ("pm/m-1/tele", json.dumps(dict(TELE, status="x" * 5000)).encode(), "oversized"),
        ("pm/m-1/evt", b" " * 1_000_000, "oversized"),
        # wrong topic (inside the gateway's subscription)
        ("pm/m-1/tele", good, "wrong-topic"),
        ("pm/m-1/rec", json.dumps(TELE).encode(), "wrong-topic"),
        ("pm/m-1/evt", json.dumps(TELE).encode(), "wrong-topic"),
        ("pm/intruder/rec", good, "wrong-topic"),
        ("pm/intruder/tele", json.dumps(TELE).encode(), "wrong-topic"),
        ("pm/M-1/tele", json.dumps(TELE).encode(), "wrong-topic"),
        ("pm/" + "x" * 40 + "/rec", good, "wrong-topic"),
        ("pm/m_1/LWT", b"Online", "wrong-topic"),
    ]
    for _ in range(40):   # random garbage on every leaf
        leaf = rnd.choice(sorted(P.UP))
        cases.append(("pm/m-1/" + leaf, rnd.randbytes(rnd.randrange(0, 120)) or b"\x00", "random"))
    for _ in range(20):   # bit flips in valid batches
        b = bytearray(batch([rec(k, 10 * k) for k in range(1, 4)]))
        b[rnd.randrange(4, len(b))] ^= 1 << rnd.randrange(8)
        cases.append(("pm/m-1/rec", bytes(b), "random"))
    return cases


def test_fuzz_ingest(broker_factory, tmp_path, db):  # noqa: F811
    # without the broker's size limits (docs/broker.md): the gateway must refuse oversized
    # payloads itself, whatever broker it is behind
    b = broker_factory(users={"gateway": "gw-pw", "fuzzer": "fz"}, limits=False)
    store = Store(db("g.db"))
    store.register_meter("m-1")
    ing = Ingest(store, b.host, b.port, "gateway", "gw-pw", client_id="gw-fuzz").start()
    assert ing.wait_connected(10)   # subscribed: the broker granted ingest's topics
    rnd = random.Random(1234)
    cases = corpus(rnd)
    rnd.shuffle(cases)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fuzzer")
    pub.username_pw_set("fuzzer", "fz")
    pub.connect(b.host, b.port)
    pub.loop_start()
    good = [rec(k, 10 * k) for k in range(1, 41)]
    for i, (topic, payload, _) in enumerate(cases):
        pub.publish(topic, payload, qos=1).wait_for_publish(10)
        if i % 3 == 0 and good:   # valid traffic between the garbage
            pub.publish("pm/m-1/rec", batch(good[:2]), qos=1).wait_for_publish(10)
            good = good[2:]
    # outside the subscription: never delivered to the gateway, so nothing to store
    pub.publish("pm/m-1/cmd/ack", js(ver=1, seq=9), qos=1).wait_for_publish(10)
    pub.publish("elsewhere/m-1/rec", batch([rec(99, 1)]), qos=1).wait_for_publish(10)
    pub.publish("pm/m-1/rec/extra", batch([rec(99, 1)]), qos=1).wait_for_publish(10)
    wait_until(lambda: store.stats["dead"] >= len(cases) and store.high_contiguous("m-1") >= 40,
               30)
    pub.loop_stop()
    pub.disconnect()
    ing.stop()

    rows = store.query("SELECT topic, payload, size, reason FROM dead_letters")
    got = sorted((r["topic"], bytes(r["payload"]), r["size"]) for r in rows)
    want = sorted((t, p[:DEAD_KEEP], len(p)) for t, p, _ in cases)   # bytes kept, and the size
    assert len(rows) == len(cases) and got == want
    assert all(r["reason"] for r in rows)
    reasons = {r["reason"] for r in rows}
    print("\n%d bad payloads, %d distinct reasons, e.g. %s" % (len(rows), len(reasons),
                                                                sorted(reasons)[:6]))
    assert ing.stats["store_errors"] == 0 and ing.stats["dead_letters"] == len(cases)
    # the good records all landed once, nothing else was written
    assert store.high_contiguous("m-1") == 40
    assert store.query("SELECT count(*) n, sum(wh) s FROM raw")[0] == {"n": 40, "s": 10 * 820}
    assert store.query("SELECT sum(wh) wh FROM agg30")[0]["wh"] == 390
    assert store.query("SELECT count(*) n FROM events")[0]["n"] == 0
    assert store.query("SELECT count(*) n FROM live")[0]["n"] == 0
    assert store.meter("m-1")["online"] is False
    store.close()


def test_store_dead_letters_ops_for_unknown_meters(db):
    """What ingest hands the store for a meter removed meanwhile is dead-lettered, not dropped."""
    store = Store(db("g.db"))
    ops = [O.Records("ghost", [rec(1, 1)]), O.Live("ghost", TELE),
           O.Events("ghost", [{"kind": "boot"}]), O.Status("ghost", {"online": True}),
           O.CommandResult("ghost", {"id": "tx-1", "cmd": "token", "ok": True})]
    assert store.write_batch(ops) == [None] * 5
    rows = store.query("SELECT topic, reason FROM dead_letters ORDER BY id")
    assert [r["topic"] for r in rows] == ["store/%s/ghost" % op.kind for op in ops]
    assert {r["reason"] for r in rows} == {"meter not registered"}
    store.close()


def test_huge_payloads_are_bounded(broker_factory, tmp_path, db, backend):
    """Three 10 MB publishes on a registered meter's own rec topic (the broker here lets
    them through): each becomes one dead letter of DEAD_KEEP bytes with its full size, and
    the database does not grow by their size."""
    b = broker_factory(users={"gateway": "gw-pw", "m-1": "mp"}, limits=False)
    store = Store(db("g.db"))
    store.register_meter("m-1")
    before = store.database.size()[0]
    ing = Ingest(store, b.host, b.gw_port, "gateway", "gw-pw", client_id="gw-huge").start()
    assert ing.wait_connected(10)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="m-1")
    pub.username_pw_set("m-1", "mp")
    pub.connect(b.host, b.port)
    pub.loop_start()
    huge = [bytes([k]) * 10_000_000 for k in (1, 2, 3)]
    for p in huge:
        pub.publish("pm/m-1/rec", p, qos=1).wait_for_publish(30)
    edge = b"\x01\x00\xff\x00" + bytes(MSG_MAX - 3)   # one byte over the largest valid message
    pub.publish("pm/m-1/rec", edge, qos=1).wait_for_publish(10)
    pub.publish("pm/m-1/rec", batch([rec(1, 10), rec(2, 20)]), qos=1).wait_for_publish(10)
    wait_until(lambda: store.stats["dead"] >= 4 and store.high_contiguous("m-1") >= 2, 30)
    pub.loop_stop()
    pub.disconnect()
    ing.stop()
    rows = store.query("SELECT payload, size, reason FROM dead_letters ORDER BY id")
    assert [(bytes(r["payload"]), r["size"]) for r in rows] == \
        [(p[:DEAD_KEEP], len(p)) for p in huge + [edge]]
    assert all(r["reason"].startswith("too large") for r in rows)
    assert store.high_contiguous("m-1") == 2    # the meter's valid traffic still lands
    grown = store.database.size()[0] - before
    store.close()
    if backend == "sqlite":
        size = sum(f.stat().st_size for f in tmp_path.glob("g.db*"))
        assert size < 1_000_000
    else:                                        # a server database starts at a few MB
        assert grown < 1_000_000
