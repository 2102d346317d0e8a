"""Store and incremental aggregation on real SQLite and PostgreSQL (the `db` fixture): idempotency, gaps, late backlog, resets."""
import random
import sqlite3
import time
from functools import partial

import pytest

from gateway.storage import ops as O
from gateway.store import Store
from prepay.record import F_GAP, F_UNSYNCED

import fixtures

T0 = 1_700_000_000 - 1_700_000_000 % 1800  # a slot boundary
rec = partial(fixtures.rec, t0=T0)


def series(n, start=1, wh0=1000, step=None, seed=1):
    rnd = random.Random(seed)
    out, wh = [], wh0
    for s in range(start, start + n):
        wh += rnd.randint(0, 20) if step is None else step
        out.append(rec(s, wh))
    return out


@pytest.fixture
def store(db):
    s = Store(db("g.db"))
    s.register_meter("m-1", grp="block-a")
    s.register_meter("m-2", grp="block-b")
    yield s
    s.close()


def slots(store, meter="m-1"):
    return {r["slot"]: (r["wh"], r["n"], r["max_dw"]) for r in store.query(
        "SELECT slot, wh, n, max_dw FROM agg30 JOIN meters USING(mid) WHERE id=?", (meter,))}


def test_idempotent_and_contiguous(store):
    rs = series(100)
    assert store.insert_records("m-1", rs[:50]) == 50
    assert store.insert_records("m-1", rs[:50]) == 0
    assert store.high_contiguous("m-1") == 50
    assert store.insert_records("m-1", rs[60:] + rs[60:70]) == 40
    assert store.high_contiguous("m-1") == 50
    assert store.missing("m-1") == [(51, 60)]
    assert store.insert_records("m-1", rs[50:60]) == 10
    assert store.high_contiguous("m-1") == 100 and store.missing("m-1") == []
    assert store.stats["duplicates"] == 60
    assert store.query("SELECT count(*) c FROM raw")[0]["c"] == 100


def test_missing_ranges_and_limit(store):
    rs = series(40)
    store.insert_records("m-1", [r for r in rs if r[0] % 5])  # every 5th missing
    assert store.high_contiguous("m-1") == 4
    assert store.missing("m-1", limit=3) == [(5, 5), (10, 10), (15, 15)]
    assert len(store.missing("m-1", limit=100)) == 7  # 40 itself is the tail, also missing


@pytest.mark.parametrize("seed", range(6))
def test_any_arrival_order_gives_the_same_aggregates(db, seed):
    rs = series(300, seed=seed)
    ref = Store(db("ref.db"))
    ref.register_meter("m-1")
    ref.insert_records("m-1", rs)
    want = slots(ref)
    ref.close()
    assert sum(v[0] for v in want.values()) == rs[-1][2] - rs[0][2]

    rnd = random.Random(seed)
    shuffled = rs + rnd.sample(rs, 60)   # with duplicates
    rnd.shuffle(shuffled)
    s = Store(db("x.db"))
    s.register_meter("m-1")
    i = 0
    while i < len(shuffled):             # random batch sizes, some through write_batch
        k = rnd.randint(1, 40)
        if rnd.random() < 0.5:
            s.insert_records("m-1", shuffled[i:i + k])
        else:
            s.write_batch([O.Records("m-1", shuffled[i:i + k // 2]),
                           O.Records("m-1", shuffled[i + k // 2:i + k])])
        i += k
    assert slots(s) == want
    assert s.high_contiguous("m-1") == 300
    fleet = s.query("SELECT sum(wh) wh, sum(n) n FROM grp30 WHERE grp=''")[0]
    assert fleet == {"wh": rs[-1][2] - rs[0][2], "n": 300}
    s.close()


def test_batch_results_count_each_new_record_once(store):
    """write_batch's result per Records op: its records that were new. A meter with two ops
    in one batch (overlapping, and overlapping what is stored) has its new ones shared out,
    each counted once; a meter with one op has all of its own."""
    a, b = series(20), series(8, seed=2)
    assert store.write_batch([O.Records("m-1", a[:10])]) == [10]
    assert store.write_batch([O.Records("m-1", a[5:15]), O.Records("m-2", b),
                              O.Records("m-1", a[10:20])]) == [5, 8, 5]
    assert store.write_batch([O.Records("m-2", b[2:6]), O.Records("m-1", a)]) == [0, 0]


def test_counter_reset_and_jump_are_excluded(store):
    rs = [rec(1, 1000), rec(2, 1010), rec(3, 1020),
          rec(4, 5),        # register went backwards (meter replaced): excluded
          rec(5, 15), rec(6, 25),
          rec(7, 10025),    # +10 kWh in one minute is beyond 25 kW: excluded
          rec(8, 10035)]
    store.insert_records("m-1", rs[::-1])  # arrival order does not matter
    assert sum(v[0] for v in slots(store).values()) == 10 + 10 + 10 + 10 + 10
    an = store.query("SELECT seq, kind, dwh FROM anomalies ORDER BY seq")
    assert an == [{"seq": 4, "kind": "backwards", "dwh": -1015},
                  {"seq": 7, "kind": "jump", "dwh": 10000}]


def test_jump_limit_uses_the_meters_max_power(store):
    store.register_meter("m-1", max_power_w=600)   # 600 W for 60 s = 10 Wh (+1 Wh resolution)
    store.insert_records("m-1", [rec(1, 0), rec(2, 11), rec(3, 23)])
    assert sum(v[0] for v in slots(store).values()) == 11
    assert [a["seq"] for a in store.query("SELECT seq FROM anomalies")] == [3]


def test_gap_marker_declares_range_and_energy_spans_it(store):
    before = [rec(s, 1000 + 10 * s) for s in range(1, 11)]
    marker = rec(30, 11, flags=F_GAP)        # seqs 11..29 dropped by a full journal
    after = [rec(s, 1000 + 10 * s) for s in range(31, 41)]
    store.insert_records("m-1", after)
    assert store.missing("m-1") == [(1, 30)]
    store.insert_records("m-1", [marker])
    assert store.missing("m-1") == [(1, 10)]
    store.insert_records("m-1", before)
    assert store.high_contiguous("m-1") == 40 and store.missing("m-1") == []
    total = sum(v[0] for v in slots(store).values())
    assert total == (1000 + 400) - (1000 + 10)   # every Wh, the dropped stretch included
    assert sum(v[1] for v in slots(store).values()) == 21   # the marker is a reading, bar its wh


def test_late_record_before_a_gap_pairs_across_it(store):
    store.insert_records("m-1", [rec(1, 100), rec(2, 110)])
    store.insert_records("m-1", [rec(6, 150, flags=0), rec(5, 3, flags=F_GAP)])  # drops 3..4
    assert sum(v[0] for v in slots(store).values()) == 50
    assert store.high_contiguous("m-1") == 6


def test_energy_is_spread_over_the_slots_it_spans(store):
    # 90 minutes between two records, 900 Wh: 300 Wh per 30-minute slot
    store.insert_records("m-1", [rec(1, 0, t=T0), rec(2, 900, t=T0 + 5400)])
    s = slots(store)
    assert [s[k][0] for k in sorted(s) if k >= T0 // 1800] == [300, 300, 300]


def test_unsynced_clock_is_not_spread(store):
    store.insert_records("m-1", [rec(1, 0, t=1000, flags=F_UNSYNCED), rec(2, 7, t=T0)])
    s = slots(store)
    assert s[(T0 - 1) // 1800][0] == 7 and sum(v[0] for v in s.values()) == 7


def test_max_demand_and_groups(store):
    store.insert_records("m-1", [rec(1, 0, avg_dw=100), rec(2, 10, avg_dw=9000), rec(3, 20)])
    store.insert_records("m-2", [rec(1, 0), rec(2, 5)])
    assert max(v[2] for v in slots(store).values()) == 9000
    g = {r["grp"]: r["wh"] for r in store.query("SELECT grp, sum(wh) wh FROM grp30 GROUP BY grp")}
    assert g == {"": 25, "block-a": 20, "block-b": 5}


def test_each_group_slot_is_the_sum_of_its_meters_slots(store):
    """grp30 is summed from the batch's agg30 rows at flush: energy, cost and record count of
    every (group, slot) equal its meters' (the fleet: all meters), over batches that span
    slots, late records and a priced tariff."""
    store.put_tariff("flat", {"rates": {"std": 100}})
    store.register_meter("m-1", grp="block-a", tariff="flat")
    store.register_meter("m-3", grp="block-a", tariff="flat")
    a, b, c = series(150), series(150, seed=2), series(150, seed=3)
    store.write_batch([O.Records("m-1", a[:100]), O.Records("m-2", b[:120]),
                       O.Records("m-3", c[:90])])
    store.write_batch([O.Records("m-1", a[100:]), O.Records("m-3", c[90:]),
                       O.Records("m-2", b[125:]), O.Records("m-1", a[40:60])])
    store.insert_records("m-2", b[120:125])   # late: pairs on both sides
    meters = store.query(
        "SELECT m.grp, a.slot, sum(a.wh) wh, sum(a.cost_um) cost_um, sum(a.n) n FROM agg30 a"
        " JOIN meters m USING(mid) GROUP BY m.grp, a.slot")
    fleet = {}
    for r in meters:
        f = fleet.setdefault(r["slot"], [0, 0, 0])
        f[0], f[1], f[2] = f[0] + r["wh"], f[1] + r["cost_um"], f[2] + r["n"]
    want = {(r["grp"], r["slot"]): (r["wh"], r["cost_um"], r["n"]) for r in meters}
    want.update({("", k): tuple(v) for k, v in fleet.items()})
    got = {(r["grp"], r["slot"]): (r["wh"], r["cost_um"], r["n"])
           for r in store.query("SELECT grp, slot, wh, cost_um, n FROM grp30")}
    assert got == want
    assert sum(v[2] for k, v in got.items() if k[0] == "") == 450
    rate = store.rollup.pricing.tariff("flat").rate(T0)   # micro-minor units per Wh
    assert sum(v[1] for k, v in got.items() if k[0] == "block-a") == rate * (
        a[-1][2] - a[0][2] + c[-1][2] - c[0][2])


def test_unregistered_and_removed_meters_are_dead_lettered(store):
    assert store.insert_records("nobody", [rec(1, 0)]) is None
    assert store.remove_meter("m-2")
    assert not store.is_registered("m-2") and store.meter("m-2") is None
    store.insert_events("m-2", [{"t": 1, "kind": "relay"}])
    dl = store.query("SELECT topic, reason FROM dead_letters ORDER BY id")
    assert dl == [{"topic": "store/records/nobody", "reason": "meter not registered"},
                  {"topic": "store/events/m-2", "reason": "meter not registered"}]
    store.register_meter("m-2")   # re-registering keeps its history and numbering
    assert store.meter("m-2")["group"] == "block-b"


def test_register_rejects_bad_ids(store):
    for bad in ("", "UPPER", "x" * 33, "a/b", "+", None):
        with pytest.raises(ValueError):
            store.register_meter(bad)


def test_first_seq_zero(db):
    s = Store(db("z.db"))
    s.register_meter("m-0", first_seq=0)
    s.insert_records("m-0", [rec(0, 0), rec(1, 1)])
    assert s.high_contiguous("m-0") == 1
    s.close()


def test_status_events_live_and_persistence(db, backend):
    path = db("p.db")
    s = Store(path)
    s.register_meter("m-1", name="Flat 1", token_key="00" * 16, token_starting_code=123456789)
    s.set_meter_status("m-1", online=True, fw="1.2.3", rssi=-61, errors=["pzem timeout"])
    s.insert_events("m-1", [{"t": 5, "kind": "relay", "seq": 1, "closed": False},
                            {"t": 5, "kind": "relay", "seq": 1, "closed": False},   # replayed
                            {"t": 6, "kind": "low_credit"}])
    s.set_live("m-1", {"t": 7, "p": 123.4})
    s.insert_records("m-1", series(10))
    s.close()
    s = Store(path)   # state survives a restart
    m = s.meter("m-1")
    assert (m["online"], m["fw"], m["rssi"], m["errors"], m["high_contiguous"]) == \
        (True, "1.2.3", -61, ["pzem timeout"], 10)
    assert "token_key" not in m
    assert s.secret("m-1") == ("00" * 16, 123456789)
    assert [e["kind"] for e in s.query("SELECT kind FROM events ORDER BY id")] == \
        ["relay", "low_credit"]
    # the browsable database (PostgreSQL: the public schema) holds no token keys
    if backend == "sqlite":
        s.close()
        conn = sqlite3.connect(path)
        assert "meter_keys" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    else:
        assert s.query("SELECT table_schema FROM information_schema.tables"
                       " WHERE table_name='meter_keys'") == [{"table_schema": "sec"}]
        s.close()


def test_write_batch_mixed_and_listeners(store):
    seen = []
    store.listen(lambda kind, meter, data: seen.append((kind, meter)))
    out = store.write_batch([O.Records("m-1", series(3)), O.Live("m-1", {"t": 1}),
                             O.Events("m-1", [{"t": 1, "kind": "boot"}]),
                             O.DeadLetter("pm/x/rec", b"\xff", "bad crc"),
                             O.Status("m-1", {"online": False})])
    assert out == [3, None, 1, None, None]
    assert seen == [("records", "m-1"), ("live", "m-1"), ("events", "m-1"),
                    ("dead", None), ("status", "m-1")]


def test_prune_keeps_aggregates_and_recognises_pruned_duplicates(store):
    rs = series(100)
    store.insert_records("m-1", rs)
    before = slots(store)
    store.retention_s = 30 * 60
    n = store.prune(now=rs[-1][1])
    assert n == 69 and store.query("SELECT min(seq) s FROM raw")[0]["s"] == 70  # t < last - 30 min
    assert slots(store) == before
    assert store.insert_records("m-1", rs[:10]) == 0 and slots(store) == before


def test_dead_letters_are_truncated_and_pruned(store):
    from gateway.schema import DEAD_KEEP
    assert DEAD_KEEP == 4096
    store.dead_letter("pm/m-1/rec", b"\xab" * 5000, "old")
    store.db.execute("UPDATE dead_letters SET t = t - 10 * 86400")
    store.dead_letter("pm/m-1/tele", b"x" * 3000, "new")
    rows = store.query("SELECT reason, payload, size FROM dead_letters ORDER BY id")
    assert [(r["reason"], bytes(r["payload"]), r["size"]) for r in rows] == [
        ("old", b"\xab" * 4096, 5000), ("new", b"x" * 3000, 3000)]
    store.retention_s = 86400
    store.prune()
    assert [r["reason"] for r in store.query("SELECT reason FROM dead_letters")] == ["new"]


def test_dead_letters_of_an_older_database_gain_a_size(tmp_path):
    """A database made before payloads were truncated: its table gets the size column, and
    its rows' size is their stored length (the API reads coalesce(size, length))."""
    db = sqlite3.connect(tmp_path / "old.db")
    db.execute("CREATE TABLE dead_letters(id INTEGER PRIMARY KEY, t REAL NOT NULL,"
               " topic TEXT NOT NULL, payload BLOB NOT NULL, reason TEXT NOT NULL)")
    db.execute("INSERT INTO dead_letters(t, topic, payload, reason) VALUES (1, 'a', x'00', 'r')")
    db.commit()
    db.close()
    s = Store(tmp_path / "old.db")
    s.dead_letter("b", b"12", "r2")
    assert s.query("SELECT topic, size FROM dead_letters ORDER BY id") == [
        {"topic": "a", "size": None}, {"topic": "b", "size": 2}]
    s.close()


def test_database_files_are_owner_only(tmp_path):
    """The secrets file holds every meter's token key, the main one vended token codes."""
    old = tmp_path / "old.db"
    old.write_bytes(b"")
    old.chmod(0o644)       # made by an earlier version
    for path in (tmp_path / "new.db", old):
        s = Store(path)
        s.register_meter("m-1", token_key="a29ab82edc5fbbc41ec9530f6dac86b1")
        files = sorted(tmp_path.glob(path.name + "*"))
        assert {f.name for f in files} >= {path.name, path.name + "-secrets", path.name + "-wal"}
        assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == \
            {f.name: "0o600" for f in files}
        s.close()


def test_two_writers_on_one_database(db):
    """Shared mode (several ingest workers on one file): records of one meter split at
    random between two stores, in any order, give exactly the single-writer aggregates."""
    rs = series(400, seed=9)
    ref = Store(db("ref.db"))
    ref.register_meter("m-1")
    ref.insert_records("m-1", rs)
    want = slots(ref)
    ref.close()
    a = Store(db("shared.db"), shared=True)
    a.register_meter("m-1")
    b = Store(db("shared.db"), shared=True)
    rnd = random.Random(3)
    msgs = [rs[i:i + rnd.randint(3, 6)] for i in range(0, 400, 3)]   # overlapping: duplicates
    rnd.shuffle(msgs)
    for k, msg in enumerate(msgs):
        (a if rnd.random() < 0.5 else b).insert_records("m-1", msg)
    assert slots(a) == want
    assert a.high_contiguous("m-1") == b.high_contiguous("m-1") == 400
    assert a.query("SELECT count(*) n FROM raw")[0]["n"] == 400
    a.close()
    b.close()


def test_marks_of_many_meters_in_one_read_see_the_other_workers(db):
    """high_contiguous_many (a batch's acks): on a shared database each mark is the higher of
    this process's and the table's, read for 600 meters in two queries; unregistered meters
    are left out. Unshared, the process's own marks."""
    a = Store(db("marks.db"), shared=True)
    ids = ["m-%03d" % i for i in range(600)]
    for i in ids:
        a.register_meter(i)
    b = Store(db("marks.db"), shared=True)
    b.write_batch([O.Records(i, series(3)) for i in ids[::2]])       # b moves even meters
    a.write_batch([O.Records(i, series(5)) for i in ids[1::2]])      # a the odd ones
    want = {i: 3 if k % 2 == 0 else 5 for k, i in enumerate(ids)}
    assert a.high_contiguous_many(ids + ["nobody"]) == want
    assert {i: a.high_contiguous(i) for i in ids} == want and a.high_contiguous("nobody") is None
    a.close()
    b.close()
    own = Store(db("marks.db"))
    assert own.high_contiguous_many(ids[:2]) == {ids[0]: 3, ids[1]: 5}
    own.close()


def test_meter_registered_by_another_process_is_picked_up(db):
    gw = Store(db("g.db"))
    assert not gw.is_registered("m-new")
    prov = Store(db("g.db"))      # e.g. host_tools/provision.py --db
    prov.register_meter("m-new")
    prov.close()
    time.sleep(1.01)                     # misses are re-checked at most once a second
    assert gw.is_registered("m-new") and gw.insert_records("m-new", series(3)) == 3
    gw.close()


def test_failed_batch_leaves_no_trace(store):
    store.insert_records("m-1", series(10))
    with pytest.raises(ValueError):   # an unknown operation fails the whole batch
        store.write_batch([O.Records("m-1", series(10, start=11)), ("bogus", "m-1", {})])
    assert store.high_contiguous("m-1") == 10
    assert store.query("SELECT count(*) n FROM raw")[0]["n"] == 10
    assert store.insert_records("m-1", series(10, start=11)) == 10   # not mistaken for duplicates
    assert store.high_contiguous("m-1") == 20


def test_crash_before_state_flush_recovers_the_mark(db, backend):
    a = Store(db("c.db"))
    a.register_meter("m-1")
    a.insert_records("m-1", series(50))          # committed; the mark is persisted lazily
    # (on a database server, which many processes write, it is persisted in every batch)
    assert (a.query("SELECT hc FROM meters")[0]["hc"] < 50) == (backend == "sqlite")
    b = Store(db("c.db"))                        # as after a crash of `a`
    assert b.high_contiguous("m-1") == 50 and b.insert_records("m-1", series(50)) == 0
    b.close()


def test_register_new_meters_in_bulk(tmp_path):
    """A fleet registered at once: one transaction and one reload, the same rows and marks as
    one register_meter each; an id taken or malformed refuses the whole list."""
    s = Store(tmp_path / "g.db")
    s.register_meter("m-0")
    s.register_new_meters(["m-%d" % i for i in range(1, 2001)])
    assert all(s.is_registered("m-%d" % i) for i in range(2001))
    assert s.meter("m-2000")["high_contiguous"] == s.meter("m-0")["high_contiguous"] == 0
    assert len({m["mid"] for m in s.query("SELECT mid FROM meters")}) == 2001
    assert s.insert_records("m-2000", series(3)) == 3 and s.high_contiguous("m-2000") == 3
    with pytest.raises(ValueError, match="already registered"):
        s.register_new_meters(["m-3000", "m-5"])
    with pytest.raises(ValueError, match="meter id must match"):
        s.register_new_meters(["m-3001", "M_BAD"])
    assert not s.is_registered("m-3000") and not s.is_registered("m-3001")
    s.close()
