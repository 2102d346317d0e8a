"""Query latency on a year of 1-minute data for 1,000 meters (host_tools/gen_history.py,
cached in build/history.db). Prints p50/p95/max for one meter's month by day and the fleet's
day by hour, in-process and over HTTP, with a same-run baseline (a one-row lookup)."""
import calendar
import json
import random
import statistics
import time
import urllib.request
from pathlib import Path

from gateway import queries
from gateway.api import make_api
from gateway.service import ApiServer
from gateway.store import Store
from host_tools import gen_history

REPO = Path(__file__).resolve().parents[2]
DB = REPO / "build" / "history.db"
N = 60


def timed(fn, n=N):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return {"p50": statistics.median(out), "p95": out[int(len(out) * 0.95) - 1], "max": out[-1]}


def fmt(name, s, base=None):
    ratio = "  (x%.1f baseline)" % (s["p50"] / base["p50"]) if base else ""
    return "  %-42s p50 %7.2f ms  p95 %7.2f ms  max %7.2f ms%s" % (name, s["p50"], s["p95"],
                                                                     s["max"], ratio)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def test_query_latency_year_1000_meters():
    t = time.monotonic()
    gen_history.generate(DB, meters=1000, days=365, raw_days=2, log=lambda s: print("  gen:", s))
    print("\nhistory ready in %.1f s" % (time.monotonic() - t))
    store = Store(DB, utc_offset_min=gen_history.OFFSET_MIN)
    ids = gen_history.meter_ids(1000)
    end = gen_history.END
    rnd = random.Random(7)
    rows = store.reader().execute("SELECT count(*) FROM agg30").fetchone()[0]
    raw = store.reader().execute("SELECT count(*) FROM raw").fetchone()[0]
    print("agg30 rows %d, raw rows %d, meters %d" % (rows, raw, len(ids)))

    def month_start():   # local midnight on the 1st of a month of 2025 (Jan..Nov)
        return calendar.timegm((2025, rnd.randrange(1, 12), 1, 0, 0, 0)) - gen_history.OFFSET_MIN * 60

    def meter_month():
        frm = month_start()
        r = queries.meter_energy(store, rnd.choice(ids), frm, frm + 28 * 86400, "day")
        assert len(r) == 28 and all(x["wh"] > 0 for x in r)

    def fleet_day():
        frm = end - gen_history.OFFSET_MIN * 60 - rnd.randrange(3, 360) * 86400   # local midnight
        r = queries.group_energy(store, "", frm, frm + 86400, "hour")
        assert len(r) == 24

    def baseline():
        assert store.meter(rnd.choice(ids)) is not None

    b = timed(baseline)
    res = {"meter month by day": timed(meter_month), "fleet day by hour": timed(fleet_day)}
    res["group (100 meters) month by day"] = timed(
        lambda: queries.group_energy(store, "feeder-03", end - 35 * 86400, end - 5 * 86400, "day"))
    res["fleet year by month"] = timed(
        lambda: queries.group_energy(store, "", end - 365 * 86400, end, "month"), 10)
    res["top consumers of a month (1.44M slots)"] = timed(
        lambda: queries.top_consumers(store, end - 31 * 86400, end, 10), 5)
    print("in-process (gateway.queries):")
    print(fmt("baseline: one meter's row", b))
    for k, v in res.items():
        print(fmt(k, v, b))

    srv = ApiServer(make_api(store), "127.0.0.1", 0)
    srv.port = _free_port()
    srv.start()
    u = srv.url

    def http_meter_month():
        frm = month_start()
        r = get("%s/api/meters/%s/readings?from=%d&to=%d&agg=day" % (u, rnd.choice(ids), frm,
                                                                   frm + 28 * 86400))
        assert len(r["rows"]) == 28

    def http_fleet_day():
        frm = end - gen_history.OFFSET_MIN * 60 - rnd.randrange(3, 360) * 86400   # local midnight
        assert len(get("%s/api/fleet/readings?from=%d&to=%d&agg=hour" % (u, frm, frm + 86400))
                   ["rows"]) == 24

    hb = timed(lambda: get("%s/api/meters/%s" % (u, rnd.choice(ids))))
    print("over HTTP (REST API, JSON):")
    print(fmt("baseline: GET /api/meters/{id}", hb))
    print(fmt("meter month by day", timed(http_meter_month), hb))
    print(fmt("fleet day by hour", timed(http_fleet_day), hb))
    srv.stop()
    store.close()


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
