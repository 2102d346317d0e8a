"""Synthetic fleet history for query benchmarks: a year of 1-minute data for N meters.

    python -m host_tools.gen_history build/history.db [--meters 1000] [--days 365] [--raw-days 2]

What a year of 1-minute records leaves in the gateway is its aggregates (raw records are kept
only for the retention period). So the tool writes, for every meter and every 30-minute slot
of the first days-raw_days days, the agg30 row those 30 one-minute records would have given
(energy from a household load shape x season x per-meter scale x deterministic noise, the
slot's 30 records, its peak minute demand, the time-of-use bucket and exact cost of the
TOU tariff below) with bulk INSERT ... SELECT in SQLite itself, then the group and fleet
rows (grp30) from them. The last raw_days days are real 1-minute records pushed through
Store.insert_records, so the newest aggregates come from the production code path.
The result is cached: an existing file made with the same parameters is reused.
"""
import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from gateway.storage.ops import Records
from gateway.store import Store

SLOT = 1800
GROUPS = 10
TARIFF = {"name": "tou", "rates": {"offpeak": "4.5", "peak": "9.25"}, "default": "offpeak",
          "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}]}
RATE = {"offpeak": 4500, "peak": 9250}          # micro-minor per Wh (prepay/tariff.py units)
OFFSET_MIN = 330                                 # meters' local time (IST): windows are local
END = 1_767_225_600                              # 2026-01-01 00:00 UTC: the history ends here
# local hour -> load factor (x100): night, morning peak, day, evening peak, late evening
SHAPE = [40, 35, 35, 35, 40, 55, 110, 130, 120, 80, 75, 75,
         80, 75, 70, 75, 95, 140, 180, 190, 170, 140, 100, 60]
MONTH = [95, 90, 100, 120, 135, 130, 115, 110, 105, 100, 95, 100]  # season (x100), Jan..Dec


def _case(values, expr):
    return "CASE %s %s END" % (expr, " ".join("WHEN %d THEN %d" % (i, v) for i, v in enumerate(values)))


def meter_ids(n):
    return ["m-%05d" % i for i in range(n)]


def generate(path, meters=1000, days=365, raw_days=2, log=print):
    params = {"meters": meters, "days": days, "raw_days": raw_days, "end": END, "v": 2}
    path = Path(path)
    if path.exists():
        try:
            db = sqlite3.connect(path)
            row = db.execute("SELECT value FROM gen_meta WHERE key='params'").fetchone()
            db.close()
            if row and json.loads(row[0]) == params:
                log("reusing %s (%s)" % (path, params))
                return path
        except sqlite3.Error:
            pass
        for suffix in ("", "-wal", "-shm", "-secrets"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    store = Store(path, retention_days=raw_days + 1, utc_offset_min=OFFSET_MIN)
    store.put_tariff("tou", TARIFF)
    ids = meter_ids(meters)
    for i, mid in enumerate(ids):
        store.register_meter(mid, grp="feeder-%02d" % (i % GROUPS), tariff="tou",
                             utc_offset_min=OFFSET_MIN)
    start = END - days * 86400
    raw_start = END - raw_days * 86400
    db = store.db
    with store._lock:
        db.execute("CREATE TEMP TABLE slots(slot INTEGER PRIMARY KEY, hr INTEGER, mon INTEGER)")
        db.execute(
            "WITH RECURSIVE s(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM s WHERE x + 1 < ?)"
            " INSERT INTO slots SELECT x, ((x * 1800 + ?) / 3600) % 24,"
            " CAST(strftime('%m', x * 1800 + ?, 'unixepoch') AS INTEGER) - 1 FROM s",
            (start // SLOT, raw_start // SLOT, OFFSET_MIN * 60, OFFSET_MIN * 60))
        # wh per slot: scale (60..240 Wh per 30 min at factor 100) x shape x season x noise
        h = "((mid * 2654435761 + slot * 40503) % 1000003)"
        wh = ("(60 + (mid * 7919) %% 181) * %s * %s * (80 + %s %% 41) / 1000000"
              % (_case(SHAPE, "hr"), _case(MONTH, "mon"), h))
        db.execute("BEGIN")
        db.execute(
            "INSERT INTO agg30(mid, slot, wh, cost_um, n, max_dw, bucket)"
            " SELECT mid, slot, wh, wh * CASE WHEN hr BETWEEN 18 AND 21 THEN %d ELSE %d END, 30,"
            " wh * 20 * (12 + %s %% 9) / 10 + 50,"
            " CASE WHEN hr BETWEEN 18 AND 21 THEN 'peak' ELSE 'offpeak' END"
            " FROM (SELECT m.mid, s.slot, s.hr, %s AS wh FROM meters m CROSS JOIN slots s"
            " ORDER BY m.mid, s.slot)" % (RATE["peak"], RATE["offpeak"], h, wh))
        db.execute("INSERT INTO grp30(grp, slot, wh, cost_um, n) SELECT m.grp, a.slot, sum(a.wh),"
                   " sum(a.cost_um), sum(a.n) FROM agg30 a JOIN meters m USING(mid)"
                   " GROUP BY m.grp, a.slot")
        db.execute("INSERT INTO grp30(grp, slot, wh, cost_um, n) SELECT '', slot, sum(wh),"
                   " sum(cost_um), sum(n) FROM grp30 GROUP BY slot")
        # each meter's register at raw_start continues from the synthesized energy
        base = dict(db.execute("SELECT mid, sum(wh) FROM agg30 GROUP BY mid"))
        db.execute("COMMIT")
    n_agg = db.execute("SELECT count(*) FROM agg30").fetchone()[0]
    log("aggregates: %d agg30 rows in %.1f s" % (n_agg, time.monotonic() - t_start))
    t1 = time.monotonic()
    n_raw = _raw(store, ids, base, raw_start, (END - raw_start) // 60)
    log("raw: %d 1-minute records through Store.insert_records in %.1f s (%.0f records/s)"
        % (n_raw, time.monotonic() - t1, n_raw / max(time.monotonic() - t1, 1e-9)))
    db.execute("CREATE TABLE IF NOT EXISTS gen_meta(key TEXT PRIMARY KEY, value TEXT)")
    db.execute("ANALYZE")
    db.execute("INSERT OR REPLACE INTO gen_meta VALUES ('params', ?)", (json.dumps(params),))
    store.close()
    log("generated %s in %.1f s, %.0f MB" % (path, time.monotonic() - t_start,
                                            os.path.getsize(path) / 1e6))
    return path


def _raw(store, ids, base, t0, minutes, batch=240):
    """Real 1-minute records for the last days, 4-hour batches of every meter per transaction.
    Power follows the same shape as the synthesized slots; the register carries on from them."""
    energy = {mid: base.get(store.registry.states[mid].mid, 0) * 600 for mid in ids}   # W x10 x minutes
    n = 0
    for k0 in range(0, minutes + 1, batch):
        items = []
        for mid in ids:
            num = store.registry.states[mid].mid
            scale = 60 + (num * 7919) % 181
            e = energy[mid]
            recs = []
            for k in range(k0, min(k0 + batch, minutes + 1)):
                t = t0 + 60 * k
                noise = (num * 2654435761 + k * 40503) % 1000003 % 41
                dw = 20 * scale * SHAPE[((t + OFFSET_MIN * 60) // 3600) % 24] * (80 + noise) // 10000
                e += dw
                v_dv = 2300 + noise
                recs.append((k + 1, t, e // 600, dw, v_dv, dw * 1000 // v_dv, 980, 5000, 50000, 0))
            energy[mid] = e
            items.append(Records(mid, recs))
        store.write_batch(items)
        n += sum(len(op.records) for op in items)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.gen_history", description=__doc__.split("\n")[0])
    ap.add_argument("db", nargs="?", default="build/history.db")
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--raw-days", type=int, default=2)
    a = ap.parse_args(argv)
    if not 0 <= a.raw_days < a.days:
        ap.error("--raw-days must be below --days")
    generate(a.db, a.meters, a.days, a.raw_days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
