"""Golden bills: real or official bills reproduced line by line and to the total by
`python -m gateway bill` (gateway/billcli.py), run as a real subprocess. Each test names its
source; the plans are committed beside this file, in tests/gateway/golden/."""
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"


def bill(plan, first, last, kwh, *args):
    """Run the real command; the parsed JSON bill (the command must succeed)."""
    p = subprocess.run([sys.executable, "-m", "gateway", "bill", "--plan", str(GOLDEN / plan),
                        "--from", first, "--to", last, "--kwh", kwh] + list(args),
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def printed(b):
    """The bill as its paper form shows it: (name, rate, quantity, exact, amount) a line."""
    return [(x["name"], x["rate"], x["quantity"], x["exact"], x["amount"]) for x in b["lines"]]


def test_golden_1_project_reference_slab_tariff():
    """This project's reference slab tariff (issue 15; the format-1 plan of docs/billing.md,
    migrated): 0-100 kWh at Rs 3.50, 101-300 at 4.50, 301+ at 6.00, Rs 50 fixed, 18% tax on
    energy plus fixed. At 250 kWh: energy 1025.00, tax 193.50, total 1268.50."""
    b = bill("reference_slabs.json", "2024-06-01", "2024-06-30", "250")
    assert printed(b) == [
        ("Energy (block 1)", "3.5", "100", "350", "350.00"),
        ("Energy (block 2)", "4.5", "150", "675", "675.00"),
        ("Fixed charge", "50", "1", "50", "50.00"),
        ("Tax", "18", None, "193.5", "193.50")]
    assert sum(Decimal(x["exact"]) for x in b["lines"] if x["id"] == "energy") == 1025
    assert b["lines"][3]["base"] == "1075" and b["lines"][3]["of"] == ["energy", "fixed1"]
    assert (b["total"], b["currency"], b["days"]) == ("1268.50", "INR", 30)


def test_golden_2_city_of_seymour_winter_and_summer():
    """City of Seymour (US municipal utility) billing calculation examples: blocks, power cost
    8.5c/kWh on all kWh, $7.50 customer charge, 1% city tax. Winter 1,200 kWh -> $171.55;
    summer 2,000 kWh -> $277.88, where 550 x 0.0475 = 26.125 rounds half-up to 26.13."""
    w = bill("seymour_winter.json", "2024-01-01", "2024-01-31", "1200")
    assert printed(w) == [
        ("Energy (block 1)", "0.064", "250", "16", "16.00"),
        ("Energy (block 2)", "0.049", "450", "22.05", "22.05"),
        ("Energy (block 3)", "0.0446", "500", "22.3", "22.30"),
        ("Power cost", "0.085", "1200", "102", "102.00"),
        ("Customer charge", "7.5", "1", "7.5", "7.50"),
        ("City tax", "1", None, "1.6985", "1.70")]
    assert w["lines"][5]["base"] == "169.85" and w["total"] == "171.55"
    s = bill("seymour_summer.json", "2024-07-01", "2024-07-31", "2000")
    assert printed(s) == [
        ("Energy (block 1)", "0.064", "250", "16", "16.00"),
        ("Energy (block 2)", "0.049", "450", "22.05", "22.05"),
        ("Energy (block 3)", "0.0475", "550", "26.125", "26.13"),
        ("Energy (block 4)", "0.0446", "750", "33.45", "33.45"),
        ("Power cost", "0.085", "2000", "170", "170.00"),
        ("Customer charge", "7.5", "1", "7.5", "7.50"),
        ("City tax", "1", None, "2.7513", "2.75")]
    assert s["total"] == "277.88"


def test_golden_2_seymour_as_one_plan_with_seasons():
    """The same City of Seymour bills from ONE plan (golden/seymour.json): the energy blocks
    are seasonal components (summer 06-01..09-30, winter 10-01..05-31) selected by date, so
    January prints the winter bill and July the summer one, line for line. A period over the
    season change is split there pro rata by days, as at a tariff version change."""
    expected = {}
    for season, first, last, kwh in (("winter", "2024-01-01", "2024-01-31", "1200"),
                                     ("summer", "2024-07-01", "2024-07-31", "2000")):
        one = bill("seymour.json", first, last, kwh)
        apart = bill("seymour_%s.json" % season, first, last, kwh)
        assert printed(one) == printed(apart) and one["total"] == apart["total"]
        assert {x["season"] for x in one["lines"]} == {season}
        expected[season] = apart["total"]
    assert expected == {"winter": "171.55", "summer": "277.88"}
    # 2024-05-17..06-15: 15 winter days and 15 summer days, 600 kWh each; the block limits
    # and the customer charge per bill are shared by days (250 -> 125, 700 -> 350, 1250 ->
    # 625; 7.50 -> 3.75), and each part has its own city tax, as with tariff versions
    b = bill("seymour.json", "2024-05-17", "2024-06-15", "1200")
    assert [(x["season"], x["name"].split(" (20")[0], x["quantity"], x["exact"], x["amount"])
            for x in b["lines"]] == [
        ("winter", "Energy (block 1)", "125", "8", "8.00"),
        ("winter", "Energy (block 2)", "225", "11.025", "11.03"),
        ("winter", "Energy (block 3)", "250", "11.15", "11.15"),
        ("winter", "Power cost", "600", "51", "51.00"),
        ("winter", "Customer charge", "0.5", "3.75", "3.75"),
        ("winter", "City tax", None, "0.8493", "0.85"),        # 1% of 84.93
        ("summer", "Energy (block 1)", "125", "8", "8.00"),
        ("summer", "Energy (block 2)", "225", "11.025", "11.03"),
        ("summer", "Energy (block 3)", "250", "11.875", "11.88"),
        ("summer", "Power cost", "600", "51", "51.00"),
        ("summer", "Customer charge", "0.5", "3.75", "3.75"),
        ("summer", "City tax", None, "0.8566", "0.86")]        # 1% of 85.66
    assert b["lines"][0]["segment"] == {"from": "2024-05-17", "to": "2024-05-31", "days": 15}
    assert b["total"] == "172.30"


def test_golden_3_pge_etouc_with_svce_generation():
    """PG&E E-TOU-C delivery with Silicon Valley Clean Energy generation, 11/22-12/21/2022
    (30 days, both included): baseline 30 x 9.7 = 291 kWh; the utility users' tax is 2% of
    the delivery lines excluding the franchise fee. Delivery $204.39, generation $106.84."""
    b = bill("pge_etouc_svce.json", "2022-11-22", "2022-12-21", "877.0271",
             "--quantity", "peak_kwh=210.6433", "--quantity", "offpeak_kwh=666.3838",
             "--quantity", "generation_credit=-123.97", "--quantity", "pcia=17.70",
             "--quantity", "franchise_fee=0.83")
    assert b["days"] == 30
    assert printed(b) == [
        ("Peak", "0.39193", "210.6433", "82.557428569", "82.56"),
        ("Off peak", "0.3746", "666.3838", "249.62737148", "249.63"),
        ("Baseline credit", "-0.09054", "291", "-26.34714", "-26.35"),
        ("Generation credit", None, None, "-123.97", "-123.97"),
        ("Power charge indifference adjustment", None, None, "17.7", "17.70"),
        ("Franchise fee surcharge", None, None, "0.83", "0.83"),
        ("Utility users' tax (2%)", "2", None, "3.9914", "3.99"),
        ("SVCE off peak", "0.11557", "666.3838", "77.013975766", "77.01"),
        ("SVCE peak", "0.13044", "210.6433", "27.476312052", "27.48"),
        ("Utility users' tax (2%)", "2", None, "2.0898", "2.09"),
        ("Energy commission surcharge", "0.0003", "877.0271", "0.26310813", "0.26")]
    assert b["lines"][2]["base"] == "kwh up to 291 (9.7/day x 30 days)"
    assert b["lines"][6]["base"] == "199.57"        # 204.39 - 0.83 franchise fee - 3.99
    assert b["groups"] == {"delivery": "204.39", "generation": "106.84"}
    assert b["total"] == "311.23"


NPOWER = {"day_kwh": "15767.3", "night_kwh": "4107.9", "kvarh": "844.8",
          "amber_kwh": "11183.7", "green_kwh": "5260.5", "red_kwh": "1985.7",
          "capacity_kva": "250", "tnuos_kw": "3.450", "cm_kwh": "1387.439",
          "nbp_kwh": "20581.8", "cfd": "-71.60", "cfd_reconciliation_1": "151.28",
          "cfd_reconciliation_2": "-231.95"}


def test_golden_4_npower_half_hourly_business_bill():
    """A UK half-hourly business bill (npower, December 2021, 31 days): levies priced on
    three energy quantities (metered 18,429.9 kWh; 1,387.439 kWh for the capacity market
    obligation; 20,581.8 kWh at the NBP), capacity per kVA per day, reactive kVArh, a CfD
    credit, prior-period CfD reconciliation, 20% VAT. Net 2,457.28; VAT 491.46; total
    2,948.74. Traps: 250 x 31 x 2.69p = 208.475 must give 208.48 (a float gives 208.47), and
    the CfD line is a credit."""
    args = [a for k, v in NPOWER.items() for a in ("--quantity", "%s=%s" % (k, v))]
    b = bill("npower_hh_business.json", "2021-12-01", "2021-12-31", "18429.9", *args)
    assert b["days"] == 31
    assert printed(b) == [
        ("Day units", "0.05975", "15767.3", "942.096175", "942.10"),
        ("Night units", "0.0414", "4107.9", "170.06706", "170.07"),
        ("DUoS capacity charge", "0.0269", "7750", "208.475", "208.48"),
        ("DUoS fixed charge", "0.2039", "31", "6.3209", "6.32"),
        ("Reactive power charge", "0.00215", "844.8", "1.81632", "1.82"),
        ("DUoS amber units", "0.01069", "11183.7", "119.553753", "119.55"),
        ("DUoS green units", "0.00482", "5260.5", "25.35561", "25.36"),
        ("DUoS red units", "0.06817", "1985.7", "135.365169", "135.37"),
        ("TNUoS demand charge", "58.8652", "3.45", "203.08494", "203.08"),
        ("Capacity market obligation", "0.05366", "1387.439", "74.44997674", "74.45"),
        ("Capacity market operational", "0.0000265", "20581.8", "0.5454177", "0.55"),
        ("Renewables obligation", "0.0249936", "18429.9", "460.62954864", "460.63"),
        ("Feed-in tariff", "0.0064534", "18429.9", "118.93551666", "118.94"),
        ("Contracts for difference", None, None, "-71.6", "-71.60"),
        ("Climate change levy", "0.00775", "18429.9", "142.831725", "142.83"),
        ("CfD reconciliation", None, None, "151.28", "151.28"),
        ("CfD reconciliation", None, None, "-231.95", "-231.95"),
        ("VAT at 20%", "20", None, "491.456", "491.46")]
    assert b["lines"][2]["base"] == "capacity_kva x 31 days"
    assert [x.get("prior_period", False) for x in b["lines"][15:17]] == [True, True]
    assert b["groups"] == {"energy": "1112.17", "network": "699.98", "levies": "582.97",
                           "climate_change_levy": "142.83", "reconciliation": "-80.67"}
    assert b["lines"][-1]["base"] == "2457.28"      # the net
    assert b["total"] == "2948.74"
