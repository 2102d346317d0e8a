"""The operator console at fleet scale: 10,000 registered meters, a year of 1-minute data for
100 of them (host_tools/gen_history.py, cached in build/console-history.db). Prints the
server time of the fleet page (first page, sorted by last seen, filtered) and of a meter
page's chart data (24 h by 30 min, 30 days by day, 12 months by month) over HTTP with a
session, against a same-run baseline (GET /api/meters/{id}); and the page weight of each
view, with its stylesheet, script and chart library, against a 300 KB budget.
Targets (issue 14): fleet page < 150 ms, chart data < 50 ms. Printed, never asserted."""
import shutil
import sqlite3
import time
import urllib.request
from pathlib import Path

from gateway.api import make_api
from gateway.console import accounts, mount
from gateway.service import ApiServer
from gateway.store import Store
from host_tools import gen_history
from broker import free_port
from console_client import Browser
from bench_gateway_query import fmt, timed   # one home for the timing and its print

REPO = Path(__file__).resolve().parents[2]
HISTORY = REPO / "build" / "console-history.db"
METERS = 10_000
WITH_DATA = 100
BUDGET = 300 * 1024
END = gen_history.END


def test_console_at_ten_thousand_meters(tmp_path):
    t = time.monotonic()
    gen_history.generate(HISTORY, meters=WITH_DATA, days=365, raw_days=2,
                         log=lambda s: print("  gen:", s))
    db = tmp_path / "console.db"
    shutil.copy(HISTORY, db)
    with sqlite3.connect(db) as con:   # registered, never heard from: rows as registration
        # writes them, in one statement (9,900 registrations one by one take minutes, and
        # registering is not what is measured here)
        first = con.execute("SELECT max(mid) FROM meters").fetchone()[0] + 1
        con.executemany("INSERT INTO meters(id, mid, name, grp, created) VALUES (?, ?, ?, ?, ?)",
                        [("m-%05d" % i, first + i, "Flat %d" % i, "g-%d" % (i % 50), END)
                         for i in range(WITH_DATA, METERS)])
    store = Store(db, utc_offset_min=gen_history.OFFSET_MIN)
    accounts.add(store, "bench", "admin", "bench-password")
    print("\nfleet ready in %.1f s: %d meters, %d agg30 rows" % (
        time.monotonic() - t, len(store.meters()),
        store.reader().execute("SELECT count(*) FROM agg30").fetchone()[0]))
    api = make_api(store)
    mount(api, store, currency="INR", assets=REPO / "build" / "console")
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    try:
        b = Browser(srv.url)
        b.login("bench", "bench-password")
        one = gen_history.meter_ids(WITH_DATA)[7]
        end = END

        def page(path):
            st, text = b.get(path)
            assert st == 200, (path, st, text[:300])
            return text

        base = timed(lambda: urllib.request.urlopen(srv.url + "/api/meters/" + one).read())
        print("server time over HTTP (targets: fleet page < 150 ms, chart data < 50 ms):")
        print(fmt("baseline: GET /api/meters/{id}", base))
        for name, path in (("fleet page 1 (by id)", "/"),
                           ("fleet page 40, by last seen desc", "/?sort=-last_seen&page=40"),
                           ("fleet filtered 'flat 99'", "/?q=flat+99")):
            print(fmt(name, timed(lambda: page(path)), base))
        for name, agg, days in (("chart data: 24 h by 30 min", "30min", 1),
                                ("chart data: 30 days by day", "day", 30),
                                ("chart data: 12 months by month", "month", 365)):
            url = "%s/api/meters/%s/readings?agg=%s&from=%d&to=%d" % (
                srv.url, one, agg, end - days * 86400, end)
            print(fmt(name, timed(lambda: urllib.request.urlopen(url).read()), base))
        print(fmt("meter page (server side)", timed(lambda: page("/meters/" + one), 10), base))

        assets = {name: len(urllib.request.urlopen(srv.url + "/static/" + name).read())
                  for name in ("console.css", "console.js", "uPlot.iife.min.js", "uPlot.min.css")}
        print("page weight, uncompressed, with the assets each page loads (budget %d KB):"
              % (BUDGET // 1024))
        for name, path, extra in (
                ("fleet", "/", ("console.css",)),
                ("meter", "/meters/" + one, tuple(assets)),
                ("vend", "/vend", ("console.css",)),
                ("customers", "/customers", ("console.css",)),
                ("bills", "/bills", ("console.css",)),
                ("tariffs", "/tariffs", ("console.css",)),
                ("alerts", "/alerts", ("console.css",)),
                ("audit", "/audit", ("console.css",))):
            html = len(page(path).encode())
            total = html + sum(assets[a] for a in extra)
            print("  %-10s html %7d B + assets %7d B = %7.1f KB  (%.0f%% of budget)" % (
                name, html, total - html, total / 1024, 100 * total / BUDGET))
    finally:
        srv.stop()
        store.close()
