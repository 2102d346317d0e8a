"""python -m gateway bill: an itemized bill from a plan and given quantities, as JSON.

    python -m gateway bill --plan PLAN.json --from 2022-11-22 --to 2022-12-21 --kwh 877.0271 \
        [--quantity NAME=VALUE ...] [--sanctioned-kw X] [--sanctioned-kva V]
        [--max-demand-kw Y | --intervals CSV]
        [--carry-in Z]

This checks a tariff against a paper bill with no meter involved (docs/billing.md). Both
dates are read dates and both are billed (inclusive). The plan is format 2, or a format-1
plan, which is migrated (gateway/billplan.py). Numbers are read as exact decimals, in the
plan (JSON numbers become Decimal, never float) and on the command line. Any problem is
printed to stderr with exit status 2.
"""
import argparse
import csv
import json
import sys
from decimal import Decimal

from gateway import billcalc, billplan, demand
from prepay.tariff_parse import parse_date


def _number(v, signed=False):
    errors = []
    x = billplan.number(v.strip(), "", errors, signed=signed)
    if errors:
        raise argparse.ArgumentTypeError("%r is not a%s decimal number"
                                         % (v, "" if signed else " non-negative"))
    return x


def _date(v):
    try:
        return parse_date(v, "date")
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a date YYYY-MM-DD" % v)


def _quantity(v):
    name, eq, value = v.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME=VALUE, got %r" % v)
    return name.strip(), _number(value, signed=True)   # an amount may be negative (a credit)


def parser():
    ap = argparse.ArgumentParser(prog="python -m gateway bill",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, metavar="PLAN.json", help="the plan (JSON file)")
    ap.add_argument("--from", dest="first", required=True, type=_date, metavar="YYYY-MM-DD",
                    help="first day of the period (the previous read date)")
    ap.add_argument("--to", dest="last", required=True, type=_date, metavar="YYYY-MM-DD",
                    help="last day of the period (the read date), included")
    ap.add_argument("--kwh", required=True, type=_number, help="energy used in the period")
    ap.add_argument("--quantity", action="append", default=[], type=_quantity,
                    metavar="NAME=VALUE", help="a quantity the plan declares (kVArh, kVA, a "
                    "given amount...); repeat for each")
    ap.add_argument("--sanctioned-kw", type=_number, metavar="X", help="sanctioned load, kW")
    ap.add_argument("--sanctioned-kva", type=_number, metavar="V",
                    help="sanctioned load in kVA, for a plan that charges per kVA")
    demand_from = ap.add_mutually_exclusive_group()
    demand_from.add_argument("--max-demand-kw", type=_number, metavar="Y",
                             help="maximum demand in the period, kW")
    demand_from.add_argument("--intervals", metavar="FILE.csv",
                             help="compute the maximum demand from interval records: a CSV "
                             "with header t_end,wh (UTC epoch seconds, Wh), as meters send")
    ap.add_argument("--demand-window-min", type=int, choices=(15, 30),
                    help="demand window for --intervals, minutes (default: the plan's "
                    "demand.window_min, else 30)")
    ap.add_argument("--carry-in", type=lambda v: _number(v, signed=True), metavar="Z",
                    help="rounding remainder carried from the last bill (plans with carry)")
    return ap


def load_plan(path):
    """The plan file -> billplan.Plan; JSON numbers are read as Decimal, never float."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, parse_float=Decimal,
                            parse_constant=lambda c: _refuse("%s is not a number" % c))
    except OSError as e:
        raise billplan.PlanError(["cannot read %s: %s" % (path, e.strerror)])
    except ValueError as e:
        raise billplan.PlanError(["%s is not valid JSON: %s" % (path, e)])
    return billplan.load(doc)


def read_intervals(path, window_s):
    """The max demand (kW, exact) of a CSV of interval records t_end,wh (gateway.demand)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise billcalc.QuantityError("--intervals: cannot read %s: %s" % (path, e.strerror))
    if not rows or [c.strip() for c in rows[0]] != ["t_end", "wh"]:
        raise billcalc.QuantityError("--intervals: %s must start with the header t_end,wh"
                                     % path)
    records = []
    for n, row in enumerate(rows[1:], 2):
        try:
            t_end, wh = (int(c) for c in row)
        except ValueError:
            raise billcalc.QuantityError("--intervals: %s line %d: expected two integers "
                                         "t_end,wh, got %r" % (path, n, ",".join(row)))
        records.append((t_end, wh))
    try:
        return demand.max_demand_kw(records, window_s)
    except ValueError as e:
        raise billcalc.QuantityError("--intervals: %s" % e)


def _refuse(msg):
    raise ValueError(msg)


def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    given = {}
    for name, value in a.quantity:
        if name in given:
            ap.error("--quantity %s given twice" % name)
        given[name] = value
    try:
        plan = load_plan(a.plan)
        if a.carry_in is not None and not plan.carry:
            raise billcalc.QuantityError("--carry-in: the plan does not carry a rounding "
                                         "remainder (rounding.carry)")
        max_demand = a.max_demand_kw if a.intervals is None else \
            read_intervals(a.intervals, (a.demand_window_min or plan.demand_window_min) * 60)
        q = billcalc.quantities(plan, given, a.kwh, a.sanctioned_kw, max_demand,
                                a.sanctioned_kva)
        out = billcalc.bill(plan, a.first, a.last, q, a.carry_in or 0)
    except billplan.PlanError as e:
        print("python -m gateway bill: invalid plan %s:\n  %s" % (a.plan, "\n  ".join(e.errors)),
              file=sys.stderr)
        return 2
    except billcalc.QuantityError as e:
        print("python -m gateway bill: %s" % e, file=sys.stderr)
        return 2
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0
