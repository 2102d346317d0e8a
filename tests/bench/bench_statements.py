"""Prepaid statement run (gateway/statements.py): the time to make and keep the month's
statement of 10,000 meters on a time-of-use tariff from stored aggregates and records, with
a same-run baseline (the bills with the meter's tariff alone, nothing kept), the alert
condition that reads them, and the statement PDF and CSV rendering rates
(gateway/statement_render.py). Printed, not asserted. BENCH_METERS=N changes the fleet."""
import calendar
import json
import os
import time

from gateway import alerts, billing, statement_render, statements
from gateway.alerting import Alerting
from gateway.store import Store

METERS = int(os.environ.get("BENCH_METERS", "10000"))
JUNE = calendar.timegm((2024, 6, 1, 0, 0, 0))
JULY = calendar.timegm((2024, 7, 1, 0, 0, 0))
TOU = {"rates": {"peak": "9.5", "offpeak": 4}, "default": "offpeak",
       "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}], "standing_per_day": "1.25"}


def fleet(path):
    """METERS meters on the TOU tariff: two 30-minute slots a day (one off-peak, one peak)
    for June, and two records; every tenth meter's credit drifts."""
    store = Store(path)
    store.put_tariff("tou", TOU)
    with store.write() as cur:
        cur.executemany("INSERT INTO meters(id, mid, grp, attrs, created) VALUES(?, ?, ?, ?, ?)",
                        [("s-%05d" % k, 10 + k, "g%d" % (k % 10), json.dumps({"tariff": "tou"}),
                          JUNE) for k in range(METERS)])
        cur.executemany("INSERT INTO agg30(mid, slot, wh, cost_um, n, bucket) VALUES(?,?,?,?,30,?)",
                        [(10 + k, (JUNE + d * 86400) // 1800 + slot, 500, 500 * milli, b)
                         for k in range(METERS) for d in range(30)
                         for slot, milli, b in ((6, 4000, "offpeak"), (38, 9500, "peak"))])
        # 30 x 500 Wh at 4 + 30 x 500 Wh at 9.5 = 60 + 142.5, standing 37.5: 60 + 143 + 38
        cur.executemany("INSERT INTO raw VALUES(?, ?, ?, ?, 0, 2300, 2000, 980, 5000, ?, 0)",
                        [(10 + k, s, JUNE + (s - 1) * 30 * 86400, (s - 1) * 30000,
                          90000 - (s - 1) * (241 + (50 if k % 10 == 0 else 0)))
                         for k in range(METERS) for s in (1, 2)])
    store.close()
    return Store(path)


def test_statement_run_10000_meters(tmp_path):
    t = time.perf_counter()
    store = fleet(tmp_path / "bench.db")
    print("\nfleet of %d prepaid meters ready in %.1f s" % (METERS, time.perf_counter() - t))
    ids = [m["id"] for m in store.meters()]
    t = time.perf_counter()
    for mid in ids:
        billing.bill(store, mid, "2024-06", now=JULY, plan=statements.TARIFF_PLAN)
    base = time.perf_counter() - t
    print("  baseline: %d bills with the meter's tariff, nothing kept %6.2f s  (%.0f /s)"
          % (len(ids), base, len(ids) / base))
    t = time.perf_counter()
    r = statements.run(store, "2024-06", now=JULY)
    took = time.perf_counter() - t
    assert len(r["made"]) == METERS and not r["failed"]
    drifting = sum(1 for x in r["made"] if not x["within_tolerance"])
    print("  statement run: %d made and kept (%d drifting)     %6.2f s  (%.0f /s, x%.2f baseline)"
          % (METERS, drifting, took, METERS / took, took / base))
    # the condition alone: a full evaluation here also raises 10,000 offline alerts
    th = {m: Alerting(store).thresholds() for m in ids}
    t = time.perf_counter()
    found = alerts.reconciliation_alerts(store, th)
    print("  reconciliation_drift condition, %d meters    %6.3f s  (%d found)"
          % (METERS, time.perf_counter() - t, len(found)))
    st = statements.statement(store, ids[0], "2024-06", now=JULY)
    utility = {"name": "Shakti Power", "address": "1 Grid Road"}
    n, t = 40, time.perf_counter()
    for _ in range(n):
        size = len(statement_render.pdf_bytes(st, utility))
    rate = n / (time.perf_counter() - t)
    print("  statement PDF rendering %18.1f PDFs/s (%d bytes; %d meters in %.0f s)"
          % (rate, size, METERS, METERS / rate))
    t = time.perf_counter()
    for _ in range(500):
        statement_render.csv_text(st)
    print("  statement CSV rendering %18.0f /s" % (500 / (time.perf_counter() - t)))
    store.close()
