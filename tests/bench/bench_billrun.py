"""Fleet billing run (gateway/billrun.py): the time to invoice 10,000 meters for a month from
stored aggregates, invoice rows included, with a same-run baseline (the bills alone, no
invoice rows), and the PDF rendering rate (gateway/invoice_render.py). Printed, not asserted.
BENCH_METERS=N changes the fleet size."""
import calendar
import json
import os
import time

from gateway import billing, billrun, invoice_render, invoices
from gateway.store import Store

METERS = int(os.environ.get("BENCH_METERS", "10000"))
JUNE = calendar.timegm((2024, 6, 1, 0, 0, 0))
JULY = calendar.timegm((2024, 7, 1, 0, 0, 0))
PLAN = {"name": "Reference", "currency": "INR",
        "energy": {"type": "slabs", "slabs": [{"upto_kwh": 100, "rate": 350},
                                              {"upto_kwh": 300, "rate": 450}, {"rate": 600}]},
        "fixed": [{"name": "Fixed charge", "per_month": 5000}],
        "taxes": [{"name": "GST", "percent": 18, "on": ["energy", "fixed"]}]}


def fleet(path):
    """METERS meters, each with a 30-minute aggregate a day for June and two records."""
    store = Store(path)
    store.put_billing_plan("ref", PLAN)
    with store.write() as cur:
        cur.executemany("INSERT INTO meters(id, mid, grp, attrs, created) VALUES(?, ?, ?, ?, ?)",
                        [("b-%05d" % k, 10 + k, "g%d" % (k % 10),
                          json.dumps({"billing_plan": "ref"}), JUNE) for k in range(METERS)])
        cur.executemany("INSERT INTO agg30(mid, slot, wh, cost_um, n) VALUES(?, ?, ?, 0, 30)",
                        [(10 + k, (JUNE + d * 86400) // 1800 + 24, 1000 + 37 * k % 9000)
                         for k in range(METERS) for d in range(30)])
        cur.executemany("INSERT INTO raw VALUES(?, ?, ?, ?, 0, 2300, 2000, 980, 5000, ?, 0)",
                        [(10 + k, s, JUNE + 60 + s * 29 * 86400, s * 100000, 90000 - s * 900)
                         for k in range(METERS) for s in (1, 2)])
    store.close()
    return Store(path)


def test_bill_run_10000_meters(tmp_path):
    t = time.perf_counter()
    store = fleet(tmp_path / "bench.db")
    print("\nfleet of %d meters ready in %.1f s" % (METERS, time.perf_counter() - t))
    ids = [m["id"] for m in store.meters()]
    t = time.perf_counter()
    for mid in ids:
        billing.bill(store, mid, "2024-06", now=JULY)
    base = time.perf_counter() - t
    print("  baseline: %d bills computed, no invoice rows   %6.2f s  (%.0f /s)"
          % (len(ids), base, len(ids) / base))
    t = time.perf_counter()
    r = billrun.run(store, "2024-06", now=JULY)
    took = time.perf_counter() - t
    assert len(r["invoiced"]) == METERS and not r["failed"]
    rows = store.reader().execute("SELECT count(*) FROM invoice_lines").fetchone()[0]
    print("  bill-run: %d invoices issued, %d lines      %6.2f s  (%.0f /s, x%.2f baseline)"
          % (len(r["invoiced"]), rows, took, METERS / took, took / base))
    t = time.perf_counter()
    again = billrun.run(store, "2024-06", now=JULY)
    print("  re-run (all invoiced already)               %6.2f s" % (time.perf_counter() - t))
    assert len(again["already"]) == METERS
    inv = invoices.get(store, r["invoiced"][0]["ref"], now=JULY)
    for label, customer in (("core font", "Asha Rao"), ("embedded DejaVu", "Łukasz Żółć")):
        doc = dict(inv, customer=customer)
        n, t = 40, time.perf_counter()
        for _ in range(n):
            size = len(invoice_render.pdf_bytes(doc))
        rate = n / (time.perf_counter() - t)
        print("  PDF rendering, %-16s %6.1f PDFs/s (%d bytes; %d meters in %.0f s)"
              % (label, rate, size, METERS, METERS / rate))
    t = time.perf_counter()
    for _ in range(200):
        invoice_render.csv_text(inv)
    print("  CSV rendering %26.0f /s" % (200 / (time.perf_counter() - t)))
    store.close()
