"""The tariff model's charge types, worked by hand (gateway/billplan.py, gateway/billcalc.py,
gateway/demand.py; docs/billing.md, "Tariff model"). The golden bills are in
test_bill_golden.py; the command's errors in test_bill_cli.py."""
from fractions import Fraction

import pytest

from gateway import billcalc, billplan, demand
from prepay.tariff_parse import parse_date


def run(doc, first, last, kwh, given=None, carry_in=0, **loads):
    plan = billplan.load(doc)
    loads = {k: Fraction(v) for k, v in loads.items()}
    q = billcalc.quantities(plan, {k: Fraction(v) for k, v in (given or {}).items()},
                            Fraction(kwh), **loads)
    return billcalc.bill(plan, parse_date(first, ""), parse_date(last, ""), q,
                         Fraction(carry_in))


def plan(*lines, **top):
    return dict({"format": 2, "lines": list(lines)}, **top)


def amounts(b):
    return [(x["name"], x["amount"]) for x in b["lines"]]


BLOCKS = [{"upto": 100, "rate": "0.10"}, {"upto": 300, "rate": "0.20"}, {"rate": "0.30"}]


def test_non_telescopic_blocks_charge_every_unit_at_the_block_of_the_total():
    p = plan({"id": "e", "name": "Energy", "type": "blocks", "mode": "total", "blocks": BLOCKS})
    assert amounts(run(p, "2024-06-01", "2024-06-30", 100)) == [("Energy (block 1)", "10.00")]
    assert amounts(run(p, "2024-06-01", "2024-06-30", "100.5")) == [("Energy (block 2)", "20.10")]
    assert amounts(run(p, "2024-06-01", "2024-06-30", 301)) == [("Energy (block 3)", "90.30")]


def test_fixed_charge_chosen_by_the_slab_of_the_total():
    p = plan({"id": "fc", "name": "Fixed charge", "type": "blocks", "mode": "total",
              "charge": "fixed", "per": "month",
              "blocks": [{"upto": 100, "rate": "20"}, {"upto": 300, "rate": "40"},
                         {"rate": "75"}]})
    b = run(p, "2024-06-01", "2024-06-30", 150)
    assert [(x["name"], x["base"], x["quantity"], x["amount"]) for x in b["lines"]] == [
        ("Fixed charge (block 2)", "kwh 150 in 100-300 x 1 months", "1", "40.00")]
    assert run(p, "2024-06-16", "2024-06-30", 50)["lines"][0]["amount"] == "10.00"   # 15/30
    with pytest.raises(billplan.PlanError, match="needs mode"):
        billplan.load(plan(dict(p["lines"][0], mode="telescopic")))



def test_two_month_cycle_with_a_rider_gst_on_one_line_and_a_whole_rupee_total():
    """An Indian LT domestic bill, read to read over two months (2024-01-10..03-09, 60 days
    = 22/31 + 29/29 + 9/31 = exactly 2 months). Monthly slabs 100/300 kWh prorated per
    calendar month and rounded to whole kWh: 71 + 100 + 29 = 200 and 213 + 300 + 87 = 600.
    A fuel rider of 0.35/kWh on every unit; GST 18% on the meter rent only; electricity duty
    6% of energy + fixed; the total in whole rupees, the paise carried to the next bill."""
    p = plan({"id": "energy", "name": "Energy", "type": "blocks", "limits_per": "month",
              "limit_decimals": 0, "blocks": [{"upto": 100, "rate": "3.50"},
                                              {"upto": 300, "rate": "4.50"}, {"rate": "6.00"}]},
             {"id": "fppca", "name": "Fuel surcharge", "type": "unit", "rate": "0.35"},
             {"id": "fixed", "name": "Fixed charge", "type": "fixed", "amount": 50,
              "per": "month"},
             {"id": "rent", "name": "Meter rent", "type": "fixed", "amount": 20, "per": "month"},
             {"id": "gst", "name": "GST 18% on meter rent", "type": "percent", "rate": 18,
              "of": ["rent"]},
             {"id": "duty", "name": "Electricity duty 6%", "type": "percent", "rate": 6,
              "of": ["energy", "fixed"]},
             currency="INR", rounding={"total_decimals": 0, "carry": True})
    b = run(p, "2024-01-10", "2024-03-09", 650)
    assert (b["days"], b["months"]) == (60, "2")
    assert [(x["name"], x["base"], x["quantity"], x["amount"]) for x in b["lines"]] == [
        ("Energy (block 1)", "kwh 0-200", "200", "700.00"),
        ("Energy (block 2)", "kwh 200-600", "400", "1800.00"),
        ("Energy (block 3)", "kwh above 600", "50", "300.00"),
        ("Fuel surcharge", "kwh", "650", "227.50"),
        ("Fixed charge", "per month x 2 months", "2", "100.00"),
        ("Meter rent", "per month x 2 months", "2", "40.00"),
        ("GST 18% on meter rent", "40", None, "7.20"),
        ("Electricity duty 6%", "2900", None, "174.00")]
    assert (b["exact_total"], b["total"], b["carry_out"]) == ("3348.7", "3349.00", "-0.3")



def test_compounding_is_what_of_lists():
    """A tax on a tax lists it in of; one that does not compound leaves it out."""
    lines = [{"id": "e", "name": "Energy", "type": "unit", "rate": "1"},
             {"id": "duty", "name": "Duty 5%", "type": "percent", "rate": 5, "of": ["e"]}]
    on_both = plan(*lines, {"id": "cess", "name": "Cess 10%", "type": "percent", "rate": 10,
                            "of": ["e", "duty"]})
    on_energy = plan(*lines, {"id": "cess", "name": "Cess 10%", "type": "percent", "rate": 10,
                              "of": ["e"]})
    assert amounts(run(on_both, "2024-06-01", "2024-06-30", 1000))[2] == ("Cess 10%", "105.00")
    assert amounts(run(on_energy, "2024-06-01", "2024-06-30", 1000))[2] == ("Cess 10%",
                                                                            "100.00")


def test_monthly_block_limits_are_prorated_by_calendar_month_and_rounded():
    """11/22-12/21: a 100 kWh monthly slab is 100 x 9/30 = 30 plus 100 x 21/31 = 67.74...,
    rounded to whole kWh per month (limit_decimals 0): 30 + 68 = 98 kWh; the 300 kWh limit
    is 90 + 203 = 293 kWh."""
    p = plan({"id": "e", "name": "Energy", "type": "blocks", "limits_per": "month",
              "limit_decimals": 0, "blocks": BLOCKS})
    b = run(p, "2022-11-22", "2022-12-21", 400)
    assert [(x["base"], x["quantity"], x["amount"]) for x in b["lines"]] == [
        ("kwh 0-98", "98", "9.80"), ("kwh 98-293", "195", "39.00"),
        ("kwh above 293", "107", "32.10")]
    assert b["days"] == 30 and b["months"] == "303/310"        # 9/30 + 21/31
    unrounded = plan(dict(p["lines"][0], limit_decimals=None))
    del unrounded["lines"][0]["limit_decimals"]
    assert run(unrounded, "2022-11-22", "2022-12-21", 400)["lines"][0]["quantity"] == "3030/31"


def test_daily_allowance_blocks_two_month_cycle():
    """A two-month cycle read to read, 2024-01-15..2024-03-14 (60 days, leap February), with a
    baseline of 9.7 kWh/day: 582 kWh in the first block."""
    p = plan({"id": "e", "name": "Energy", "type": "blocks", "limits_per": "day",
              "blocks": [{"upto": "9.7", "rate": "0.30"}, {"rate": "0.40"}]})
    b = run(p, "2024-01-15", "2024-03-14", 700)
    assert b["days"] == 60
    assert [(x["quantity"], x["amount"]) for x in b["lines"]] == [("582", "174.60"),
                                                                  ("118", "47.20")]


def test_a_version_change_splits_the_period_by_days_and_never_reprices_history():
    doc = {"format": 2, "versions": [
        {"effective": "2022-01-01", "lines": [
            {"id": "e", "name": "Energy", "type": "unit", "rate": "0.10"},
            {"id": "f", "name": "Fixed", "type": "fixed", "amount": "10", "per": "month"}]},
        {"effective": "2022-12-01", "lines": [
            {"id": "e", "name": "Energy", "type": "unit", "rate": "0.12"},
            {"id": "f", "name": "Fixed", "type": "fixed", "amount": "12", "per": "month"},
            {"id": "adj", "name": "Reconciliation", "type": "amount", "amount": "-1.00",
             "prior_period": True}]}]}
    b = run(doc, "2022-11-22", "2022-12-21", 300)
    assert [(x["name"], x["quantity"], x["exact"], x["amount"]) for x in b["lines"]] == [
        ("Energy (2022-11-22 to 2022-11-30)", "90", "9", "9.00"),          # 300 x 9/30
        ("Fixed (2022-11-22 to 2022-11-30)", "0.3", "3", "3.00"),          # 10 x 9/30 month
        ("Energy (2022-12-01 to 2022-12-21)", "210", "25.2", "25.20"),     # at the new rate
        ("Fixed (2022-12-01 to 2022-12-21)", "21/31", "252/31", "8.13"),   # 12 x 21/31
        ("Reconciliation (2022-12-01 to 2022-12-21)", None, "-1", "-1.00")]  # once, last part
    assert b["lines"][0]["segment"] == {"from": "2022-11-22", "to": "2022-11-30", "days": 9}
    assert b["total"] == "44.33"
    # a bill wholly before the change is priced by the old version alone (the month charge
    # is 10 x (10/31 + 21/30) = 10.2258...: 31 days touching two months)
    assert [x["amount"] for x in run(doc, "2022-10-22", "2022-11-21", 300)["lines"]] == \
        ["30.00", "10.23"]
    with pytest.raises(billcalc.QuantityError, match="no tariff version is in force on 2021"):
        run(doc, "2021-12-15", "2022-01-14", 300)


def test_seasons_wrap_the_new_year_and_29_february_follows_28_february():
    doc = plan({"id": "e", "name": "Energy", "type": "unit", "rate": "0.10", "season": "cold"},
               {"id": "e", "name": "Energy", "type": "unit", "rate": "0.20", "season": "hot"},
               {"id": "f", "name": "Fixed", "type": "fixed", "amount": "3", "per": "month"},
               seasons={"hot": {"from": "03-01", "to": "10-31"},
                        "cold": {"from": "11-01", "to": "02-28"}})
    # 2024-02-20..2024-03-10: 10 cold days (29 Feb with them), 10 hot: 100 kWh x 1/2 each
    b = run(doc, "2024-02-20", "2024-03-10", 100)
    assert [(x["season"], x["quantity"], x["amount"]) for x in b["lines"]] == [
        ("cold", "50", "5.00"), ("cold", "10/29", "1.03"),      # 3 x 10/29 month
        ("hot", "50", "10.00"), ("hot", "10/31", "0.97")]       # 3 x 10/31 month
    # the winter over the new year is one season: one part, no split
    b = run(doc, "2023-12-15", "2024-01-14", 310)
    assert [x["amount"] for x in b["lines"]] == ["31.00", "3.00"] and "segment" not in b["lines"][0]


def test_fixed_charges_per_day_month_and_kw_of_sanctioned_load():
    p = plan({"id": "d", "name": "Daily", "type": "fixed", "amount": "0.50", "per": "day"},
             {"id": "m", "name": "Monthly", "type": "fixed", "amount": "31", "per": "month"},
             {"id": "kw", "name": "Load", "type": "unit", "quantity": "sanctioned_kw",
              "rate": "20.25", "per": "month"})
    b = run(p, "2024-06-16", "2024-07-15", 0, sanctioned_kw="3.5")
    # 30 days; months = 15/30 + 15/31; 3.5 kW x 20.25 x (15/30 + 15/31) = 69.732...
    assert amounts(b) == [("Daily", "15.00"), ("Monthly", "30.50"), ("Load", "69.73")]
    with pytest.raises(billcalc.QuantityError, match="--sanctioned-kw"):
        run(p, "2024-06-16", "2024-07-15", 0)


def test_demand_charge_and_penalty_above_sanctioned_load():
    p = plan({"id": "md", "name": "Demand", "type": "unit", "quantity": "max_demand_kw",
              "rate": "300", "per": "month"},
             {"id": "pen", "name": "Excess demand penalty", "type": "unit",
              "quantity": "excess_demand_kw", "rate": "600", "per": "month"})
    b = run(p, "2024-06-01", "2024-06-30", 1000, sanctioned_kw=10, max_demand_kw="12.5")
    assert amounts(b) == [("Demand", "3750.00"), ("Excess demand penalty", "1500.00")]
    b = run(p, "2024-06-01", "2024-06-30", 1000, sanctioned_kw=10, max_demand_kw="9")
    assert amounts(b)[1] == ("Excess demand penalty", "0.00")
    with pytest.raises(billcalc.QuantityError, match="--max-demand-kw and --sanctioned-kw"):
        run(p, "2024-06-01", "2024-06-30", 1000, max_demand_kw="9")


def test_max_demand_from_interval_records():
    t0 = 1717200000      # 2024-06-01 00:00 UTC, a window boundary
    recs = [(t0 + 60 * (i + 1), 100) for i in range(60)]       # 6 kW for an hour
    recs += [(t0 + 3600 + 60 * (i + 1), 300) for i in range(15)]  # 18 kW for 15 minutes
    assert demand.max_demand_kw(recs, 900) == 18
    assert demand.max_demand_kw(recs, 1800) == 9               # 4500 Wh in the 30 minutes
    assert demand.max_demand_kw([], 900) == 0
    with pytest.raises(ValueError, match="15 or 30 minutes"):
        demand.max_demand_kw(recs, 600)
    with pytest.raises(ValueError, match="negative energy"):
        demand.max_demand_kw([(t0 + 60, -1)])


def test_minimum_charge_free_units_subsidy_and_rebate():
    p = plan({"id": "e", "name": "Energy", "type": "unit", "rate": "5"},
             {"id": "free", "name": "Free units", "type": "unit", "cap": 50, "rate": "-5"},
             {"id": "min", "name": "Minimum charge top-up", "type": "minimum", "amount": "100",
              "per": "month", "of": ["e", "free"]},
             {"id": "sub", "name": "Subsidy", "type": "amount", "amount": "-20"},
             {"id": "rebate", "name": "Prompt payment rebate 2%", "type": "percent",
              "rate": "-2", "of": ["e", "free", "min"]})
    b = run(p, "2024-06-01", "2024-06-30", 60)
    # 60 x 5 = 300; the first 50 free: -250; 50 < 100: top up by 50; rebate 2% of 100
    assert amounts(b) == [("Energy", "300.00"), ("Free units", "-250.00"),
                          ("Minimum charge top-up", "50.00"), ("Subsidy", "-20.00"),
                          ("Prompt payment rebate 2%", "-2.00")]
    assert b["total"] == "78.00"
    b = run(p, "2024-06-01", "2024-06-30", 200)
    assert amounts(b)[2] == ("Minimum charge top-up", "0.00") and b["total"] == "715.00"


def test_loss_adjusted_quantity_is_derived_unless_given():
    p = plan({"id": "l", "name": "Levy", "type": "unit", "quantity": "nbp_kwh", "rate": "0.01"},
             quantities={"nbp_kwh": {"of": "kwh", "loss_factor": "1.0825"}})
    assert run(p, "2024-06-01", "2024-06-30", 1000)["lines"][0]["quantity"] == "1082.5"
    assert run(p, "2024-06-01", "2024-06-30", 1000,
               given={"nbp_kwh": "1090"})["lines"][0]["amount"] == "10.90"
    # derived from a declared volume the bill does not give: asked for by name
    p = plan({"id": "l", "name": "Levy", "type": "unit", "quantity": "nbp_kwh", "rate": "0.01"},
             quantities={"gsp_kwh": "volume", "nbp_kwh": {"of": "gsp_kwh", "loss_factor": "1.02"}})
    with pytest.raises(billcalc.QuantityError, match="--quantity nbp_kwh=VALUE"):
        run(p, "2024-06-01", "2024-06-30", 1000)
    assert run(p, "2024-06-01", "2024-06-30", 1000,
               given={"gsp_kwh": "100"})["lines"][0]["quantity"] == "102"


def test_rounding_on_the_total_with_remainder_carried_forward():
    """Lines kept exact, the total rounded to whole rupees; the remainder goes to the next
    bill: 3 x 0.345 = 1.035 -> 1, carry 0.035; next 1.035 + 0.035 = 1.07 -> 1, carry 0.07."""
    p = plan({"id": "e", "name": "Energy", "type": "unit", "rate": "0.345"},
             {"id": "t", "name": "Tax", "type": "percent", "rate": "10", "of": ["e"]},
             rounding={"lines": False, "total_decimals": 0, "carry": True})
    b = run(p, "2024-06-01", "2024-06-30", 3)
    assert [(x["exact"], x["amount"]) for x in b["lines"]] == [("1.035", "1.04"),
                                                               ("0.1035", "0.10")]
    # the tax is on the exact energy; the total is the exact sum rounded once
    assert (b["exact_total"], b["total"], b["carry_out"]) == ("1.1385", "1.00", "0.1385")
    b2 = run(p, "2024-07-01", "2024-07-31", 3, carry_in=Fraction("0.1385"))
    assert (b2["total"], b2["carry_out"]) == ("1.00", "0.277")
    b3 = run(p, "2024-08-01", "2024-08-31", 3, carry_in=Fraction("0.8"))
    assert (b3["total"], b3["carry_out"]) == ("2.00", "-0.0615")


def test_half_up_is_away_from_zero_on_exact_decimals():
    r = billcalc.round_half_up
    assert [r(Fraction(x), 2) for x in ("26.125", "208.475", "-26.125", "0.005", "-0.004")] \
        == [Fraction(x) for x in ("26.13", "208.48", "-26.13", "0.01", "0")]
    assert billcalc.decimal_text(Fraction("-0.004"), 2) == "0.00"


def test_format_1_plan_migrates_to_the_same_lines_as_the_monthly_engine():
    """The format-1 plan of test_billing.test_fixed_surcharge_tax_lines_and_rounding, at
    100 kWh with 3.5 kW: the monthly engine bills 350, 51, 71, 9, 24, 1 minor units."""
    v1 = {"name": "Domestic LT-1", "currency": "INR",
          "energy": {"type": "slabs", "slabs": [{"upto_kwh": 100, "rate": "3.5"},
                                                {"upto_kwh": "300", "rate": 5},
                                                {"rate": "7.25"}]},
          "fixed": [{"name": "Fixed charge", "per_month": "50.5"},
                    {"name": "Load charge", "per_kw": "20.25"}],
          "surcharges": [{"name": "Fuel adjustment", "percent": "2.5"}],
          "taxes": [{"name": "Electricity duty", "percent": 5},
                    {"name": "Cess", "percent": "10", "on": ["surcharge"]}]}
    v2 = billplan.migrate_v1(v1)
    assert v2["lines"][0]["blocks"] == [{"upto": "100", "rate": "0.035"},
                                        {"upto": "300", "rate": "0.05"}, {"rate": "0.0725"}]
    assert [x.get("of") for x in v2["lines"]] == [None, None, None, ["energy"],
                                                  ["energy", "fixed1", "fixed2"], ["surcharge1"]]
    b = run(v1, "2024-06-01", "2024-06-30", 100, sanctioned_kw="3.5")
    assert [x["amount"] for x in b["lines"]] == ["3.50", "0.51", "0.71", "0.09", "0.24", "0.01"]
    assert b["total"] == "5.06" and b["currency"] == "INR"
    with pytest.raises(billplan.PlanError, match="tou"):
        billplan.load({"energy": {"type": "tou"}})


@pytest.mark.parametrize("doc,problems", [
    ([], ["plan: must be a JSON object"]),
    ({"format": 3, "lines": [{"id": "e", "type": "unit", "rate": 1}]}, ["plan.format: must be 2"]),
    (plan({"id": "e", "type": "unit", "rate": 0.1}),
     ['lines[0].rate: use an integer or a decimal string like "0.064", not float']),
    (plan({"id": "e", "type": "unit", "rate": "1e"}), ["lines[0].rate: '1e' is not a decimal"]),
    (plan({"id": "e", "type": "unit", "rate": "NaN"}), ["lines[0].rate: 'NaN' is not a decimal"]),
    (plan({"id": "e", "type": "watts"}), ["lines[0].type: must be one of blocks"]),
    (plan({"type": "fixed", "amount": 1}), ["lines[0].id: required"]),
    (plan({"id": "e", "type": "fixed", "amount": 1}, {"id": "e", "type": "fixed", "amount": 1}),
     ["lines[1].id: 'e' is used twice"]),
    (plan({"id": "e", "type": "unit", "quantity": "kvarh", "rate": 1}),
     ["lines[0].quantity: 'kvarh' is not a built-in quantity"]),
    (plan({"id": "t", "type": "percent", "rate": 5, "of": ["e"]},
          {"id": "e", "type": "fixed", "amount": 1}),
     ["lines[0].of: 'e' names no earlier line or group"]),
    (plan({"id": "t", "type": "percent", "rate": 5}), ["lines[0].of: must be a non-empty list"]),
    (plan({"id": "e", "type": "fixed", "amount": 1, "per": "week", "colour": 1}),
     ["lines[0]: unknown key 'colour'", "lines[0].per: must be one of bill, day, month"]),
    (plan({"id": "e", "type": "blocks", "blocks": [{"upto": 5, "rate": 1}, {"upto": 5, "rate": 2},
                                                   {"rate": 3}]}),
     ["lines[0].blocks[1].upto: must be above the previous block's"]),
    (plan({"id": "e", "type": "blocks", "mode": "stepped", "blocks": [{"rate": 1},
                                                                      {"upto": 3, "rate": 1}]}),
     ["lines[0].mode: must be", "lines[0].blocks[0]: upto is required",
      "lines[0].blocks[1]: the last block has no upto"]),
    (plan({"id": "a", "type": "amount", "quantity": "kwh"}),
     ["lines[0].quantity: 'kwh' must be declared an amount"]),
    (plan({"id": "u", "type": "unit", "rate": 1, "cap": "-1"}),
     ["lines[0].cap: must not be negative"]),
    (plan({"id": "e", "type": "fixed", "amount": 1, "season": "summer"},
          {"id": "e", "type": "fixed", "amount": 1, "season": "summer"},
          {"id": "f", "type": "fixed", "amount": 1, "season": "monsoon"},
          seasons={"summer": {"from": "04-01", "to": "09-30"},
                   "winter": {"from": "10-01", "to": "03-31"}}),
     ["lines[1].id: 'e' is used twice (an id repeats only in different seasons)",
      "lines[2].season: 'monsoon' is not one of the plan's seasons (summer, winter)"]),
    (plan({"id": "e", "type": "fixed", "amount": 1},
          {"id": "e", "type": "fixed", "amount": 1, "season": "s"},
          seasons={"s": {"from": "01-01", "to": "12-31"}}),
     ["lines[1].id: 'e' is used twice"]),
    (plan({"id": "e", "type": "fixed", "amount": 1, "season": "s"}),
     ["lines[0].season: 's' is not one of the plan's seasons (none declared)"]),
    (plan({"id": "e", "type": "fixed", "amount": 1},
          seasons={"s": {"from": "04-01", "to": "09-30"}, "w": {"from": "09-30", "to": "03-31"}}),
     ["plan.seasons: 09-30 is in s and w (each day of the year must be in exactly one"]),
    (plan({"id": "e", "type": "fixed", "amount": 1},
          seasons={"s": {"from": "04-02", "to": "09-30"}, "w": {"from": "10-01", "to": "03-31"}}),
     ["plan.seasons: 04-01 is in no season"]),
    (plan({"id": "e", "type": "fixed", "amount": 1},
          seasons={"s": {"from": "02-30", "to": "09-30"}, "w": {"to": "03-31"}}),
     ["seasons.s.from: '02-30' is not a day of the year MM-DD",
      "seasons.w: must be {\"from\": \"MM-DD\", \"to\": \"MM-DD\"}"]),
    (plan({"id": "e", "type": "fixed", "amount": 1}, seasons=[]),
     ["plan.seasons: must be an object"]),
    (plan({"id": "e", "type": "fixed", "amount": 1}, demand={"window_min": 5}),
     ["demand.window_min: must be 15 or 30 (minutes), got 5"]),
    ({"format": 2, "lines": [], "versions": []}, ["plan: give lines, or versions"]),
    ({"format": 2, "versions": [{"effective": "2024-02-30", "lines": [
        {"id": "e", "type": "fixed", "amount": 1}]}]},
     ["versions[0].effective: '2024-02-30' is not a date"]),
    ({"format": 2, "versions": [
        {"effective": "2024-02-01", "lines": [{"id": "e", "type": "fixed", "amount": 1}]},
        {"effective": "2024-01-01", "lines": [{"id": "e", "type": "fixed", "amount": 1}]}]},
     ["versions[1].effective: must be after the previous version's"]),
    (plan({"id": "e", "type": "fixed", "amount": 1}, decimals=9, quantities={"kwh": "volume",
                                                                               "x": "mass"}),
     ["plan.decimals: must be an integer 0..6", "quantities.kwh: is built in",
      "quantities.x: must be one of volume, level, amount"]),
    (plan({"id": "e", "type": "fixed", "amount": 1}, rounding={"total_decimals": 3}),
     ["rounding.total_decimals: must be an integer 0..decimals (2)"]),
])
def test_bad_plans_are_refused_with_every_reason(doc, problems):
    with pytest.raises(billplan.PlanError) as e:
        billplan.load(doc)
    assert len(e.value.errors) == len(problems), e.value.errors
    for want, got in zip(problems, e.value.errors):
        assert got.startswith(want), (want, got)


@pytest.mark.parametrize("given,loads,msg", [
    ({"kvarh": 5}, {}, "the plan has no quantity kvarh (declared: none)"),
    ({}, {"max_demand_kw": -1}, "quantity max_demand_kw: must not be negative"),
    ({"days": 5}, {}, "quantity days is built in"),
])
def test_bad_quantities(given, loads, msg):
    p = plan({"id": "e", "type": "unit", "rate": 1})
    with pytest.raises(billcalc.QuantityError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        run(p, "2024-06-01", "2024-06-30", 1, given=given, **loads)



def _paths(doc, path=()):
    """Every (path, value) inside a JSON document."""
    yield path, doc
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) \
        if isinstance(doc, list) else ()
    for k, v in items:
        yield from _paths(v, path + (k,))


def _replace(doc, path, value):
    if not path:
        return value
    out = dict(doc) if isinstance(doc, dict) else list(doc)
    out[path[0]] = _replace(doc[path[0]], path[1:], value)
    return out


def test_any_plan_document_is_a_plan_or_a_plan_error():
    """Fuzz: the golden plans and the worked ones with one value replaced by anything (a
    float, a list, a dict, a wrong name...) load as a plan or fail with PlanError; a plan that
    loads bills or fails with QuantityError. Never another exception."""
    import json
    from pathlib import Path

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    golden = Path(__file__).resolve().parent / "golden"
    docs = [json.loads(f.read_text()) for f in sorted(golden.glob("*.json"))] + [
        plan({"id": "nbp", "type": "unit", "quantity": "nbp_kwh", "rate": "1",
              "cap_per_day": "2", "per": "month"},
             {"id": "m", "type": "minimum", "amount": "9", "of": ["nbp"]},
             quantities={"nbp_kwh": {"of": "kwh", "loss_factor": "1.1"}},
             rounding={"lines": False, "total_decimals": 0, "carry": True}),
        {"format": 2, "versions": [
            {"effective": "2024-01-01", "lines": [
                {"id": "e", "type": "blocks", "limits_per": "month", "limit_decimals": 0,
                 "blocks": [{"upto": 5, "rate": "1"}, {"rate": "2"}]}]},
            {"effective": "2024-02-10", "lines": [
                {"id": "e", "type": "blocks", "mode": "total", "charge": "fixed",
                 "per": "month", "blocks": [{"upto": 5, "rate": "1"}, {"rate": "2"}]}]}]}]
    plausible = st.sampled_from(["0.064", "-1", "0", "12", "kwh", "month", "day", "bill",
                                 "total", "telescopic", "fixed", "per_unit", "e", "nbp",
                                 "2024-02-01", "volume", "level", "amount", "nbp_kwh",
                                 "delivery", True, False, 0, 2, 5, None])
    anything = plausible | plausible | st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                  st.floats(allow_nan=True), st.text(max_size=8),
                  st.sampled_from(["0.064", "-1", "1e999999", "NaN", "Infinity", "kwh",
                                   "month", "total", "fixed", "e", "2024-02-30", "volume",
                                   "amount", "nbp_kwh", "energy", "delivery"])),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6),
                                                                     inner, max_size=3),
        max_leaves=8)

    @settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        doc = data.draw(st.sampled_from(docs))
        path, _ = data.draw(st.sampled_from(list(_paths(doc))))
        doc = _replace(doc, path, data.draw(anything))
        try:
            p = billplan.load(doc)
        except billplan.PlanError as e:
            assert e.errors and all(isinstance(x, str) for x in e.errors)
            return
        value = st.fractions(min_value=0, max_value=10**6)
        given_q = {k: data.draw(value) for k in p.quantities if k not in billcalc.BUILTIN}
        first = parse_date("2023-12-01", "") + data.draw(st.integers(0, 120))
        last = first + data.draw(st.integers(-1, 70))
        try:
            q = billcalc.quantities(p, given_q, data.draw(value), data.draw(value),
                                    data.draw(value))
            billcalc.bill(p, first, last, q, data.draw(st.sampled_from([0, Fraction(1, 3)])))
        except billcalc.QuantityError:
            pass
    check()
