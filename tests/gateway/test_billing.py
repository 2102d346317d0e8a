"""Bills over real HTTP and real SQLite (gateway/billing.py, docs/billing.md)."""
import calendar

import pytest

from gateway.api import make_api
from gateway.service import ApiServer
from gateway.store import Store
from test_api import KEY, TOKEN_KEY, Client, free_port, rec

DAY = 86400
T0 = calendar.timegm((2024, 6, 1, 0, 0, 0))
TOU = {"rates": {"peak": "9.5", "offpeak": 4}, "default": "offpeak",
       "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}], "standing_per_day": "1.25"}
FLAT = {"rates": {"std": 100}}          # 1 minor unit per 10 Wh
SLABS = {"name": "Domestic LT-1", "currency": "INR",
         "energy": {"type": "slabs", "slabs": [{"upto_kwh": 100, "rate": "3.5"},
                                               {"upto_kwh": "300", "rate": 5}, {"rate": "7.25"}]}}


@pytest.fixture
def gw(tmp_path, db):
    store = Store(db("gw.db"))
    store.put_tariff("tou", TOU)
    store.put_tariff("flat", FLAT)
    # m-1: one day of TOU metering, 10 Wh a minute
    store.register_meter("m-1", name="Flat 1", tariff="tou")
    store.insert_records("m-1", [rec(s + 1, 10 * s, T0 + 60 * s) for s in range(1441)])
    # m-r: flat tariff; credit 1000, -1 a minute, +2000 (a top-up) from minute 720
    store.register_meter("m-r", tariff="flat", token_key=TOKEN_KEY, token_starting_code=123456789)
    store.insert_records("m-r", [rec(s + 1, 10 * s, T0 + 60 * s,
                                     credit=1000 - s + (2000 if s >= 720 else 0))
                                 for s in range(1441)])
    api = make_api(store, None, [KEY])
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    c = Client(srv.url)
    c.store = store
    yield c
    srv.stop()
    store.close()


def topups(gw):
    """m-r: a 2000 top-up the meter accepted, one it refused, one pending, all at noon on
    1 June (vending stamps the wall clock; the records show the 2000 credited at minute 720)."""
    ok = gw.call("POST", "/api/meters/m-r/topup", {"amount": 2000, "ref": "r1"}, key=KEY)[1]
    bad = gw.call("POST", "/api/meters/m-r/topup", {"amount": 500}, key=KEY)[1]
    pend = gw.call("POST", "/api/meters/m-r/topup", {"amount": 300}, key=KEY)[1]
    gw.store.command_result("m-r", {"id": "tx-%d" % ok["id"], "cmd": "token", "ok": True})
    gw.store.command_result("m-r", {"id": "tx-%d" % bad["id"], "cmd": "token", "ok": False,
                                    "error": "used"})
    with gw.store._lock:
        gw.store.db.execute("UPDATE transactions SET t=? WHERE id IN (?,?,?)",
                            (T0 + 720 * 60, ok["id"], bad["id"], pend["id"]))


def put_plan(gw, name, doc):
    st, b = gw.call("PUT", "/api/billing/plans/" + name, doc, key=KEY)
    assert st == 200, b
    return b


def slab_meter(gw, mid, wh, **attrs):
    """A meter with `wh` Wh used in June 2024, over five days (records spread it in slots)."""
    gw.store.register_meter(mid, **attrs)
    gw.store.insert_records(mid, [rec(1, 0, T0 + 60), rec(2, wh, T0 + 60 + 5 * DAY)])


def energy_lines(b):
    return [(x["wh"], x["amount"], x["exact"]) for x in b["lines"] if x["kind"] == "energy"]


def test_slab_boundaries_exact(gw):
    put_plan(gw, "slabs", SLABS)
    for mid, wh in (("s-100", 100000), ("s-100x", 100001), ("s-300", 300000),
                    ("s-302", 302000), ("s-0", 0)):
        slab_meter(gw, mid, wh, billing_plan="slabs")
    got = {}
    for mid in ("s-100", "s-100x", "s-300", "s-302", "s-0"):
        st, b = gw.get("/api/meters/%s/bill?period=2024-06" % mid)
        assert st == 200, b
        got[mid] = energy_lines(b)
        assert b["total"] == sum(x["amount"] for x in b["lines"])
    # 100 kWh is all in the first slab: 100000 Wh x 3.5 = 350
    assert got["s-100"] == [(100000, 350, "350"), (0, 0, "0"), (0, 0, "0")]
    # 100.001 kWh: exactly one Wh in the second slab (0.005 rounds half-up to 0)
    assert got["s-100x"] == [(100000, 350, "350"), (1, 0, "0.005"), (0, 0, "0")]
    assert got["s-300"] == [(100000, 350, "350"), (200000, 1000, "1000"), (0, 0, "0")]
    # 2 kWh above: 2000 x 7.25 = 14.5, rounded half-up once to 15
    assert got["s-302"] == [(100000, 350, "350"), (200000, 1000, "1000"), (2000, 15, "14.5")]
    assert got["s-0"] == [(0, 0, "0")] * 3
    st, b = gw.get("/api/meters/s-100x/bill?period=2024-06")
    assert [x["text"] for x in b["lines"]] == [
        "Energy slab 1 (0-100 kWh)", "Energy slab 2 (100-300 kWh)", "Energy slab 3 (above 300 kWh)"]
    assert b["energy_wh"] == 100001 and b["currency"] == "INR" and b["final"] is True


def test_tou_plan_equals_existing_tou_cost(gw):
    put_plan(gw, "default", {"energy": {"type": "tou"}})   # m-1 has no plan: the default
    st, b = gw.get("/api/meters/m-1/bill?period=2024-06")
    assert st == 200 and b["plan"] == "default"
    st, tou = gw.get("/api/meters/m-1/tou?from=%d&to=%d" % (b["from"], b["to"]))
    en = [x for x in b["lines"] if x["kind"] == "energy"]
    assert [(x["bucket"], x["wh"]) for x in en] == [(t["bucket"], t["wh"]) for t in tou["buckets"]]
    # the exact costs are the aggregates'; /tou rounds each down, a bill line half-up
    assert [x["exact"] for x in en] == ["48", "22.8"]
    assert [int(x["exact"].split(".")[0]) for x in en] == [t["cost"] for t in tou["buckets"]]
    assert [x["amount"] for x in en] == [48, 23]
    assert [x["rate"] for x in en] == ["4", "9.5"]
    # the tariff's standing charge: 30 days x 1.25 = 37.5 -> 38
    st_line = [x for x in b["lines"] if x["kind"] == "standing"]
    assert [(x["exact"], x["amount"], x["days"]) for x in st_line] == [("37.5", 38, 30)]
    assert b["total"] == 48 + 23 + 38 and b["energy_wh"] == 14400


def test_fixed_surcharge_tax_lines_and_rounding(gw):
    plan = dict(SLABS, fixed=[{"name": "Fixed charge", "per_month": "50.5"},
                              {"name": "Load charge", "per_kw": "20.25"}],
                surcharges=[{"name": "Fuel adjustment", "percent": "2.5"}],
                taxes=[{"name": "Electricity duty", "percent": 5},
                       {"name": "Cess", "percent": "10", "on": ["surcharge"]}])
    put_plan(gw, "full", plan)
    slab_meter(gw, "f-1", 100000, billing_plan="full", sanctioned_load_w=3500)
    st, b = gw.get("/api/meters/f-1/bill?period=2024-06")
    assert st == 200, b
    rows = [(x["kind"], x["exact"], x["amount"]) for x in b["lines"]]
    assert rows == [
        ("energy", "350", 350), ("energy", "0", 0), ("energy", "0", 0),
        ("fixed", "50.5", 51),                 # half-up
        ("fixed", "70.875", 71),               # 3.5 kW x 20.25
        ("surcharge", "8.75", 9),              # 2.5 % of the energy lines (350)
        ("tax", "23.6", 24),                   # 5 % of energy + fixed: 350 + 51 + 71 = 472
        ("tax", "0.9", 1),                     # 10 % of the surcharge line (9)
    ]
    assert b["total"] == 350 + 51 + 71 + 9 + 24 + 1
    assert b["lines"][6]["base"] == 472 and b["lines"][6]["percent"] == "5"
    st, text = gw.get("/api/meters/f-1/bill.txt?period=2024-06")
    assert st == 200 and isinstance(text, str)
    assert "INVOICE  f-1  2024-06" in text and "Domestic LT-1" in text
    assert "Load charge 3.5 kW x 20.25" in text and "Fuel adjustment 2.5% of energy" in text
    total_line = [ln for ln in text.splitlines() if ln.startswith("TOTAL")][0]
    assert total_line.split() == ["TOTAL", "INR", "5.06"]
    # a per-kW charge needs the meter's sanctioned load
    slab_meter(gw, "f-2", 10, billing_plan="full")
    st, e = gw.get("/api/meters/f-2/bill?period=2024-06")
    assert st == 409 and "sanctioned_load_w" in e["error"]


def test_month_boundary_in_local_time(gw):
    # IST (UTC+5:30): July starts locally at 2024-06-30 18:30 UTC
    gw.store.register_meter("m-ist", tariff="flat", utc_offset_min=330)
    put_plan(gw, "default", {"energy": {"type": "tou"}})
    t = calendar.timegm((2024, 6, 30, 18, 0, 0))
    gw.store.insert_records("m-ist", [rec(s + 1, 10 * s, t + 60 * s, credit=5000 - s)
                                      for s in range(61)])
    st, jun = gw.get("/api/meters/m-ist/bill?period=2024-06")
    st2, jul = gw.get("/api/meters/m-ist/bill?period=2024-07")
    assert st == st2 == 200
    assert jun["to"] == jul["from"] == calendar.timegm((2024, 7, 1, 0, 0, 0)) - 330 * 60 == t + 1800
    assert jun["days"] == 30 and jul["days"] == 31
    # intervals ending up to 18:30 UTC are June's, the rest July's
    assert (jun["energy_wh"], jul["energy_wh"]) == (300, 300)
    assert (jun["total"], jul["total"]) == (30, 30)
    # the record ending at local midnight closes June and opens July
    assert jun["prepaid"]["closing"]["t"] == jul["prepaid"]["opening"]["t"] == t + 1800
    assert (jun["prepaid"]["debited"], jul["prepaid"]["debited"]) == (30, 30)
    assert jun["prepaid"]["metered_wh"] == 300 and jul["prepaid"]["difference_meter"] == 0
    # the same split as the local-month readings (all 600 Wh are in the UTC month of June)
    st, r = gw.get("/api/meters/m-ist/readings?agg=month&from=2024-06-15&to=2024-07-15")
    assert [(x["t"], x["wh"]) for x in r["rows"]] == [(jun["from"], 300), (jul["from"], 300)]


def test_reconciliation_with_topups(gw):
    put_plan(gw, "flat-fixed", {"energy": {"type": "tou"},
                                "fixed": [{"name": "Meter rent", "per_month": 50}]})
    gw.store.register_meter("m-r", billing_plan="flat-fixed")
    topups(gw)
    st, b = gw.get("/api/meters/m-r/bill?period=2024-06")
    assert st == 200, b
    p = b["prepaid"]
    assert [(x["amount"], x["status"]) for x in p["topups"]] == \
        [(2000, "accepted"), (500, "rejected: used"), (300, "vended")]
    assert (p["topups_accepted"], p["topups_pending"]) == (2000, 300)
    assert p["opening"] == {"seq": 1, "t": T0, "wh": 0, "credit": 1000}
    assert p["closing"] == {"seq": 1441, "t": T0 + DAY, "wh": 14400, "credit": 1560}
    # 1000 + 2000 - 1560 = 1440 debited; 14.4 kWh x 100 = 1440 billed for energy
    assert (p["debited"], p["billed_meter"], p["difference_meter"]) == (1440, 1440, 0)
    assert (p["billed_total"], p["difference_total"]) == (1490, 50)   # + meter rent
    st, text = gw.get("/api/meters/m-r/bill.txt?period=2024-06")
    assert "= debited by the meter" in text and "rejected: used" in text
    # another month: no records, nothing to reconcile, still a bill (the fixed charge)
    st, b = gw.get("/api/meters/m-r/bill?period=2024-08")
    assert st == 200 and b["prepaid"]["records"] is False and b["prepaid"]["debited"] is None
    assert b["total"] == 50 and b["prepaid"]["topups"] == []


@pytest.mark.parametrize("doc,problems", [
    ({"energy": {"type": "slab"}}, ['energy.type: must be "tou"']),
    ({"energy": {"type": "slabs", "slabs": []}}, ["energy.slabs: must be a non-empty list"]),
    ({"energy": {"type": "slabs", "slabs": [{"upto_kwh": 100, "rate": 3},
                                            {"upto_kwh": 100, "rate": 4}, {"rate": 5}]}},
     ["energy.slabs[1].upto_kwh: must be above the previous slab's (100 kWh)"]),
    ({"energy": {"type": "slabs", "slabs": [{"rate": 3}, {"upto_kwh": 5, "rate": 4}]}},
     ["energy.slabs[0]: upto_kwh is required", "energy.slabs[1]: the last slab has no upto_kwh"]),
    ({"energy": {"type": "slabs", "slabs": [{"rate": 3.5}]}},
     ['energy.slabs[0].rate: use an integer or a decimal string like "7.125", not float']),
    ({"fixed": [{"name": "F", "per_month": 1, "per_kw": 2}], "taxes": [{"percent": "5"}]},
     ["fixed[0]: give exactly one of per_month", "taxes[0].name: required"]),
    ({"surcharges": [{"name": "S", "percent": "1.2345", "on": ["tax"]}], "colour": "red"},
     ["plan: unknown key 'colour'", "surcharges[0].percent: '1.2345' is not a decimal",
      "surcharges[0].on: must be a non-empty"]),
])
def test_bad_plans_are_refused_with_every_reason(gw, doc, problems):
    st, b = gw.call("PUT", "/api/billing/plans/bad", doc, key=KEY)
    assert st == 400, b
    assert len(b["problems"]) == len(problems), b["problems"]
    for want, got in zip(problems, b["problems"]):
        assert got.startswith(want), (want, got)
        assert want in b["error"]
    assert gw.get("/api/billing/plans/bad")[0] == 404


def test_plan_endpoints_auth_and_names(gw):
    assert gw.call("PUT", "/api/billing/plans/p", SLABS)[0] == 401
    assert gw.call("PUT", "/api/billing/plans/p", SLABS, key="wrong")[0] == 401
    st, b = gw.call("PUT", "/api/billing/plans/Bad%20Name", SLABS, key=KEY)
    assert st == 400 and "plan name must match" in b["error"]
    st, b = gw.call("PUT", "/api/billing/plans/p", raw=b"[1]", key=KEY)
    assert st == 400 and "JSON object" in b["error"]
    put_plan(gw, "p", SLABS)
    put_plan(gw, "a", {"energy": {"type": "tou"}})
    st, b = gw.get("/api/billing/plans")
    assert [p["name"] for p in b["plans"]] == ["a", "p"] and b["plans"][1]["plan"] == SLABS
    assert gw.get("/api/billing/plans/p")[1]["plan"]["energy"]["slabs"][2] == {"rate": "7.25"}
    assert gw.get("/api/billing/plans/zz")[0] == 404
    # a meter may only name a plan that exists
    st, b = gw.call("POST", "/api/meters", {"id": "m-1", "billing_plan": "nope"}, key=KEY)
    assert st == 400 and "unknown billing plan" in b["error"]
    st, b = gw.call("POST", "/api/meters", {"id": "m-1", "billing_plan": "p"}, key=KEY)
    assert st == 200 and b["billing_plan"] == "p"
    st, spec = gw.get("/openapi.json")
    for path in ("/api/billing/plans", "/api/billing/plans/{name}", "/api/meters/{meter_id}/bill",
                 "/api/meters/{meter_id}/bill.txt"):
        assert path in spec["paths"], path
    assert spec["paths"]["/api/billing/plans/{name}"]["put"]["security"] == [{"apiKey": []}]
    params = spec["paths"]["/api/meters/{meter_id}/bill"]["get"]["parameters"]
    assert {"name": "period", "required": True} == {k: v for k, v in params[1].items()
                                                     if k in ("name", "required")}


@pytest.mark.parametrize("path,status,msg", [
    ("/api/meters/nope/bill?period=2024-06", 404, "no meter 'nope'"),
    ("/api/meters/nope/bill.txt?period=2024-06", 404, "no meter 'nope'"),
    ("/api/meters/m-1/bill", 400, "period must be a month YYYY-MM"),
    ("/api/meters/m-1/bill?period=2024-13", 400, "period must be a month YYYY-MM"),
    ("/api/meters/m-1/bill?period=2024-6", 400, "period must be a month YYYY-MM"),
    ("/api/meters/m-1/bill.txt?period=june", 400, "period must be a month YYYY-MM"),
    ("/api/meters/m-1/bill?period=2024-06", 409, "has no billing plan"),
    ("/api/meters/m-1/bill?period=2024-06&plan=zz", 404, "no billing plan 'zz'"),
])
def test_bill_errors(gw, path, status, msg):
    st, b = gw.get(path)
    assert st == status and msg in b["error"], b


def test_tou_plan_needs_a_tariff(gw):
    put_plan(gw, "tou", {"energy": {"type": "tou"}})
    slab_meter(gw, "n-1", 1000)
    st, b = gw.get("/api/meters/n-1/bill?period=2024-06&plan=tou")
    assert st == 409 and "has no tariff" in b["error"]


def test_meter_connected_mid_month_is_prorated(gw):
    """Connected on 13 June (local): 18 of 30 days. Fixed charges are the whole-month
    exact amount x 18/30, rounded half-up once; the standing charge counts 18 days."""
    plan = dict(SLABS, fixed=[{"name": "Fixed charge", "per_month": "50.5"},
                              {"name": "Load charge", "per_kw": "20.25"}],
                taxes=[{"name": "Electricity duty", "percent": 5}])
    put_plan(gw, "full", plan)
    slab_meter(gw, "p-1", 100000, billing_plan="full", sanctioned_load_w=3500,
               connected="2024-06-13", utc_offset_min=330)
    st, b = gw.get("/api/meters/p-1/bill?period=2024-06")
    assert st == 200, b
    assert (b["days"], b["service_days"]) == (30, 18)
    fixed = [(x["text"], x["exact"], x["amount"], x["prorated"]) for x in b["lines"]
             if x["kind"] == "fixed"]
    assert fixed == [
        ("Fixed charge, 18/30 days", "50.5", 30, {"days": 18, "of": 30}),   # 30.3
        ("Load charge 3.5 kW x 20.25, 18/30 days", "70.875", 43,            # 42.525
         {"days": 18, "of": 30})]
    tax = [x for x in b["lines"] if x["kind"] == "tax"][0]
    assert tax["base"] == 350 + 30 + 43 and b["total"] == 350 + 30 + 43 + half(423 * 5, 100)
    st, text = gw.get("/api/meters/p-1/bill.txt?period=2024-06")
    assert "30 days, 18 in service" in text and "Fixed charge, 18/30 days" in text
    # the next month is whole; a month before the connection has no fixed charges at all
    st, b = gw.get("/api/meters/p-1/bill?period=2024-07")
    assert st == 200 and b["service_days"] == 31
    assert [x["amount"] for x in b["lines"] if x["kind"] == "fixed"] == [51, 71]
    assert "prorated" not in b["lines"][-2]
    st, b = gw.get("/api/meters/p-1/bill?period=2024-05")
    assert st == 200 and b["service_days"] == 0
    assert [x["amount"] for x in b["lines"] if x["kind"] == "fixed"] == [0, 0]


def half(num, den):
    return (2 * num + den) // (2 * den)


def test_standing_charge_counts_days_in_service(gw):
    gw.store.register_meter("m-1", connected="2024-06-21")     # TOU meter: 10 of 30 days
    put_plan(gw, "tou", {"energy": {"type": "tou"}})
    st, b = gw.get("/api/meters/m-1/bill?period=2024-06&plan=tou")
    assert st == 200, b
    standing = [x for x in b["lines"] if x["kind"] == "standing"]
    assert [(x["days"], x["exact"], x["amount"]) for x in standing] == [(10, "12.5", 13)]
    assert b["service_days"] == 10


@pytest.mark.parametrize("bad", ["2024-02-30", "13/06/2024", "2024-6-1", 20240613])
def test_connected_must_be_a_date(gw, bad):
    st, e = gw.call("POST", "/api/meters", {"id": "p-2", "connected": bad}, key=KEY)
    assert st == 400 and "connected" in e["error"], e
    # a bad value that reached the store another way stops the bill with a clear reason
    gw.store.register_meter("p-3", billing_plan="full", connected=str(bad))
    put_plan(gw, "full", SLABS)
    st, e = gw.get("/api/meters/p-3/bill?period=2024-06")
    assert st == 409 and "connected must be a date" in e["error"], e
