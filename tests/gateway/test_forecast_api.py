"""GET /api/meters/{id}/forecast over real HTTP against a real SQLite store: days of credit
left and the month-end projection from the stored aggregates (prepay/forecast.py does the
arithmetic; tests/prepay/test_forecast.py checks it on its own)."""
import pytest

from gateway.api import make_api
from gateway.service import ApiServer
from gateway.store import Store
from broker import free_port
from test_api import Client

DAY = 86400
T0 = 1_717_200_000 - 1_717_200_000 % DAY       # 2024-06-01 00:00 UTC
# 5 a kWh and 30 a day: 1 kWh every hour costs 150 a day, 6.25 an hour
FLAT = {"rates": {"std": 5}, "default": "std", "standing_per_day": 30}
NOW = T0 + 7 * DAY + 3600


def rec(seq, wh, t, credit):
    return (seq, t, wh, 10000, 2300, 4350, 1000, 5000, credit, 0)


@pytest.fixture
def gw(tmp_path):
    store = Store(tmp_path / "gw.db", utc_offset_min=0)
    store.put_tariff("flat", FLAT)
    for m in ("m-1", "m-2", "m-3"):
        store.register_meter(m, tariff="flat")
    # m-1: 1 kWh an hour, a record every 30 minutes, from June 1 to June 8 01:00
    store.insert_records("m-1", [rec(k + 1, 500 * k, T0 + 1800 * k, 1200) for k in range(339)])
    # m-2: three hours of it
    store.insert_records("m-2", [rec(k + 1, 500 * k, T0 + 1800 * k, 1200) for k in range(7)])
    api = make_api(store, None, ["k-" + "x" * 30])
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    yield Client(srv.url)
    srv.stop()
    store.close()


def test_a_week_of_constant_use(gw):
    st, f = gw.get("/api/meters/m-1/forecast?at=%d" % NOW)
    assert st == 200 and f["credit"]["credit"] == 1200
    d = f["days_left"]
    assert (d["days"], d["soonest_days"], d["latest_days"]) == ("8.00", "8.00", "8.00")
    assert d["runs_out_at"] == NOW + 8 * DAY and d["basis"] == "week"
    assert (d["history_hours"], d["needs_hours"]) == (168, 0)
    assert d["text"] == "about 8.00 days (8.00 to 8.00) at recent use, from 168 h of history"
    m = f["month_end"]
    # so far: 169 kWh at 5 and 7 days 1 hour of standing = 845 + 211.25; then 551 hours
    # at 6.25 = 3443.75: 4500 by June 30
    assert (m["period"], m["so_far"], m["so_far_wh"]) == ("2024-06", 1056, 169000)
    assert (m["expected"], m["low"], m["high"]) == (4500, 4500, 4500)
    assert m["text"] == "about 4500 (4500 to 4500) by the end of 2024-06, 1056 so far, from 168 h of history"


def test_little_history_says_what_it_needs(gw):
    st, f = gw.get("/api/meters/m-2/forecast?at=%d" % (T0 + 3 * 3600 + 60))
    d = f["days_left"]
    # the first record (no energy: nothing before it to subtract) lands in the 30 minutes
    # before T0, so the hour before T0 is a fourth hour of history, with no use
    assert (d["basis"], d["history_hours"], d["needs_hours"]) == ("hours", 4, 164)
    assert d["text"].endswith("from 4 h of history (164 more for a full-week estimate)")
    # 3 kWh in 4 hours: 0.75 an hour, 90 + 30 = 120 a day: 10 days; heaviest hour 1 kWh:
    # 8 days; lightest nothing: 1200 / 30 = 40 days
    assert (d["days"], d["soonest_days"], d["latest_days"]) == ("10.00", "8.00", "40.00")


def test_no_history_is_unknown(gw):
    st, f = gw.get("/api/meters/m-3/forecast?at=%d" % NOW)
    assert st == 200 and f["credit"] is None and f["days_left"] is None
    assert f["month_end"]["expected"] is None and f["month_end"]["text"].startswith("unknown")


def test_bad_requests(gw):
    assert gw.get("/api/meters/nope/forecast")[0] == 404
    st, b = gw.get("/api/meters/m-1/forecast?at=yesterday")
    assert st == 400 and "at:" in b["error"]
