"""Format-2 plans (gateway/billplan.py) through the monthly bill API, over real HTTP and real
SQLite (gateway/billmonth.py; docs/billing.md, "Format-2 plans in the bill API")."""
from test_api import KEY, rec
from test_billing import T0, gw, put_plan, slab_meter   # noqa: F401 (gw is a fixture)

DAY = 86400
V2 = {"format": 2, "name": "Reference slabs (format 2)", "currency": "INR",
      "lines": [
          {"id": "energy", "name": "Energy", "type": "blocks", "limits_per": "month",
           "blocks": [{"upto": 100, "rate": "3.50"}, {"upto": 300, "rate": "4.50"},
                      {"rate": "6.00"}]},
          {"id": "fixed", "name": "Fixed charge", "type": "fixed", "amount": 50,
           "per": "month"},
          {"id": "demand", "name": "Demand", "type": "unit", "quantity": "max_demand_kw",
           "rate": "10", "per": "month"},
          {"id": "load", "name": "Load", "type": "unit", "quantity": "sanctioned_kw",
           "rate": "2", "per": "month"},
          {"id": "tax", "name": "Tax 18%", "type": "percent", "rate": 18,
           "of": ["energy", "fixed"]}]}


def test_a_format_2_plan_bills_a_meter_month_from_its_aggregates(gw):
    put_plan(gw, "v2", V2)
    # 250 kWh in June, spread evenly over five days: the largest 30-minute slot holds
    # 250000 / 240 = 1041.67 Wh -> whole Wh per slot from the records
    slab_meter(gw, "v-1", 250000, billing_plan="v2", sanctioned_load_w=3500)
    st, b = gw.get("/api/meters/v-1/bill?period=2024-06")
    assert st == 200, b
    assert [(x["name"], x["quantity"], x["amount"]) for x in b["lines"][:2]] == [
        ("Energy (block 1)", "100", "350.00"), ("Energy (block 2)", "150", "675.00")]
    assert b["lines"][2]["amount"] == "50.00"
    assert b["lines"][4]["quantity"] == "3.5" and b["lines"][4]["amount"] == "7.00"
    assert b["lines"][5] == dict(b["lines"][5], base="1075", amount="193.50")
    demand = b["lines"][3]
    assert demand["base"] == "max_demand_kw x 1 months"
    assert b["energy_wh"] == 250000 and b["currency"] == "INR"
    assert b["total"] == 126850 + 700 + int(demand["amount"].replace(".", ""))   # minor units
    st, text = gw.get("/api/meters/v-1/bill.txt?period=2024-06")
    assert st == 200 and "Energy (block 2)" in text and "193.50" in text
    assert [ln for ln in text.splitlines() if ln.startswith("TOTAL")][0].split()[-1] == \
        "{:,.2f}".format(b["total"] / 100)
    # the prepaid block compares the whole bill with what the meter debited
    assert b["prepaid"]["billed_meter"] == b["prepaid"]["billed_total"] == b["total"]


def test_a_meter_connected_mid_month_is_billed_from_that_day(gw):
    put_plan(gw, "v2", V2)
    slab_meter(gw, "v-2", 100000, billing_plan="v2", sanctioned_load_w=0,
               connected="2024-06-16")
    st, b = gw.get("/api/meters/v-2/bill?period=2024-06")
    assert st == 200 and b["service_days"] == 15
    fixed = [x for x in b["lines"] if x["id"] == "fixed"][0]
    assert (fixed["quantity"], fixed["amount"]) == ("0.5", "25.00")   # 15/30 of a month
    # the monthly slab of 100 kWh is half a month's: 50 kWh
    assert [x["quantity"] for x in b["lines"] if x["id"] == "energy"] == ["50", "50"]
    st, b = gw.get("/api/meters/v-2/bill?period=2024-05")
    assert st == 200 and b["lines"] == [] and b["total"] == 0


def test_format_2_plans_refused_or_unbillable_with_the_reason(gw):
    st, b = gw.call("PUT", "/api/billing/plans/bad", dict(V2, lines=[
        {"id": "e", "type": "unit", "rate": 0.5}]), key=KEY)
    assert st == 400 and b["problems"] == [
        'lines[0].rate: use an integer or a decimal string like "0.064", not float']
    put_plan(gw, "kvarh", {"format": 2, "quantities": {"kvarh": "volume"}, "lines": [
        {"id": "r", "type": "unit", "quantity": "kvarh", "rate": "0.01"}]})
    slab_meter(gw, "v-3", 1000, billing_plan="kvarh")
    st, e = gw.get("/api/meters/v-3/bill?period=2024-06")
    assert st == 409 and "needs the quantity kvarh" in e["error"], e
    put_plan(gw, "load", {"format": 2, "lines": [
        {"id": "l", "type": "unit", "quantity": "sanctioned_kw", "rate": "1"}]})
    st, e = gw.get("/api/meters/v-3/bill?period=2024-06&plan=load")
    assert st == 409 and "--sanctioned-kw" in e["error"], e


def test_a_currency_without_minor_units(gw):
    """decimals 0 (yen): lines and total in whole units, the text invoice prints no point."""
    put_plan(gw, "jpy", {"format": 2, "currency": "JPY", "decimals": 0, "lines": [
        {"id": "e", "name": "Energy", "type": "unit", "rate": "31.25"}]})
    slab_meter(gw, "v-4", 123000, billing_plan="jpy")     # 123 kWh x 31.25 = 3843.75
    st, b = gw.get("/api/meters/v-4/bill?period=2024-06")
    assert st == 200 and b["lines"][0]["amount"] == "3844" and b["total"] == 3844
    st, text = gw.get("/api/meters/v-4/bill.txt?period=2024-06")
    assert [ln for ln in text.splitlines() if ln.startswith("TOTAL")][0].split() == \
        ["TOTAL", "JPY", "3,844"]


def _demand_plan(window_min):
    return {"format": 2, "currency": "INR", "demand": {"window_min": window_min}, "lines": [
        {"id": "md", "name": "Demand", "type": "unit", "quantity": "max_demand_kw",
         "rate": "10", "per": "month"},
        {"id": "pen", "name": "Penalty above sanctioned load", "type": "unit",
         "quantity": "excess_demand_kw", "rate": "20", "per": "month"}]}


def test_demand_over_15_or_30_minutes_from_the_meters_interval_records(gw):
    """1-minute records: 6 kW (100 Wh a minute) for two hours, 18 kW (300 Wh) for the 15
    minutes from 01:00, and one backwards register step (a meter reset, excluded as the
    aggregation excludes it). Over 15 minutes the peak is 18 kW; over 30 minutes (the
    aggregates' slots) (15 x 300 + 15 x 100) Wh x 2 = 12 kW. Sanctioned load 10 kW."""
    put_plan(gw, "d15", _demand_plan(15))
    put_plan(gw, "d30", _demand_plan(30))
    gw.store.register_meter("d-1", billing_plan="d15", sanctioned_load_w=10000)
    wh, recs = 0, []
    for s in range(1, 121):
        wh += 300 if 61 <= s <= 75 else 100
        recs.append(rec(s, wh, T0 + 60 * s))
    recs.append(rec(121, 5, T0 + 60 * 121))             # backwards: not 18 kW of demand
    recs.append(rec(122, 105, T0 + 60 * 122))
    gw.store.insert_records("d-1", recs)
    st, b = gw.get("/api/meters/d-1/bill?period=2024-06")
    assert st == 200, b
    assert b["max_demand"] == {"kw": "18", "window_min": 15, "source": "raw"}
    assert [(x["name"], x["quantity"], x["amount"]) for x in b["lines"]] == [
        ("Demand", "18", "180.00"), ("Penalty above sanctioned load", "8", "160.00")]
    st, b = gw.get("/api/meters/d-1/bill?period=2024-06&plan=d30")
    assert st == 200 and b["max_demand"] == {"kw": "12", "window_min": 30, "source": "agg30"}
    assert [x["amount"] for x in b["lines"]] == ["120.00", "40.00"]
    # a plan that prices no demand computes none
    put_plan(gw, "flat", {"format": 2, "lines": [{"id": "e", "type": "unit", "rate": "1"}]})
    st, b = gw.get("/api/meters/d-1/bill?period=2024-06&plan=flat")
    assert st == 200 and "max_demand" not in b
    # the records pruned (retention): 30-minute demand stays, 15-minute demand cannot be had
    with gw.store.write() as cur:
        cur.execute("DELETE FROM raw WHERE mid=(SELECT mid FROM meters WHERE id='d-1')")
    st, b = gw.get("/api/meters/d-1/bill?period=2024-06&plan=d30")
    assert st == 200 and b["max_demand"]["kw"] == "12"
    st, e = gw.get("/api/meters/d-1/bill?period=2024-06")
    assert st == 409 and "15 minutes needs the month's interval records" in e["error"], e


def test_demand_spread_over_windows_and_pairs_left_out():
    """gateway/demand.py: an interval over several windows is spread by time; a missing
    seq, a gap marker, an unsynced clock and a listed anomaly leave their pair out."""
    from fractions import Fraction

    from gateway import demand
    # 900 Wh from 00:10 to 00:40: 600 Wh in 00:00-00:30 (20 minutes of it) -> 1.2 kW; over
    # 15 minutes 150, 450, 300 Wh -> 450 x 4 = 1.8 kW
    assert demand.max_demand_spread_kw([(600, 2400, 900)], 1800) == Fraction(6, 5)
    assert demand.max_demand_spread_kw([(600, 2400, 900)], 900) == Fraction(9, 5)
    # only windows inside [lo, hi) count
    assert demand.max_demand_spread_kw([(0, 900, 900), (900, 1800, 90)], 900, lo=900) == \
        Fraction(36, 100)
    recs = [(1, 60, 0, 0), (2, 120, 10, 0), (4, 240, 30, 0), (5, 300, 40, 8), (6, 360, 50, 0),
            (7, 420, 60, 1), (8, 480, 70, 0), (9, 540, 80, 0), (10, 600, 90, 0)]
    assert demand.register_intervals(recs, 8 | 1, {9}) == [(60, 120, 10), (540, 600, 10)]


def test_a_charge_per_kva_of_sanctioned_load(gw):
    """A fixed charge per kVA of sanctioned load a month: the meter's sanctioned_load_va
    attribute (VA) is the plan's sanctioned_kva."""
    put_plan(gw, "kva", {"format": 2, "lines": [
        {"id": "cap", "name": "Capacity", "type": "unit", "quantity": "sanctioned_kva",
         "rate": "30.5", "per": "month"}]})
    slab_meter(gw, "k-1", 1000, billing_plan="kva", sanctioned_load_va=4500,
               connected="2024-06-16")
    st, b = gw.get("/api/meters/k-1/bill?period=2024-06")
    assert st == 200, b
    # 4.5 kVA x 30.5 x 15/30 month = 68.625 -> 68.63
    assert [(x["quantity"], x["amount"]) for x in b["lines"]] == [("2.25", "68.63")]
    slab_meter(gw, "k-2", 1000, billing_plan="kva", sanctioned_load_w=4500)
    st, e = gw.get("/api/meters/k-2/bill?period=2024-06")
    assert st == 409 and "sanctioned_kva (--sanctioned-kva)" in e["error"], e


def test_a_read_to_read_period_over_the_api_and_the_fleet_run(gw):
    put_plan(gw, "v2", V2)
    slab_meter(gw, "r-1", 250000, billing_plan="v2", sanctioned_load_w=0)
    st, b = gw.get("/api/meters/r-1/bill?period=2024-05-22..2024-06-21")
    assert st == 200, b
    assert (b["period"], b["days"], b["energy_wh"]) == ("2024-05-22..2024-06-21", 31, 250000)
    fixed = [x for x in b["lines"] if x["id"] == "fixed"][0]
    assert fixed["quantity"] == "317/310"         # 10/31 of May + 21/30 of June
    st, e = gw.get("/api/meters/r-1/bill?period=2024-06-21..2024-05-22")
    assert st == 400 and "must run forward" in e["error"], e
    put_plan(gw, "slabs", {"energy": {"type": "slabs", "slabs": [{"rate": 1}]}})
    st, e = gw.get("/api/meters/r-1/bill?period=2024-05-22..2024-06-21&plan=slabs")
    assert st == 409 and "bills calendar months" in e["error"], e
    st, run = gw.call("POST", "/api/billing/runs", {"period": "2024-05-22..2024-06-21",
                                                    "draft": True}, key=KEY)
    assert st == 200 and {"meter": "r-1", "ref": run["invoiced"][0]["ref"]} in run["invoiced"]
    st, e = gw.call("POST", "/api/billing/runs", {"period": "2024-05-22..2024-06"}, key=KEY)
    assert st == 400 and "read dates" in e["error"], e
