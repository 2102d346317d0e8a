"""A meter's calendar month billed with a format-2 plan (gateway/billcalc.py), for the bill
API (gateway/billing.py bill(); docs/billing.md, "Format-2 plans in the bill API").

The quantities come from what the gateway knows of the meter: the month's energy from its
30-minute aggregates (kwh), its sanctioned_load_w and sanctioned_load_va attributes
(sanctioned_kw, sanctioned_kva) and, when the plan
prices demand, the maximum demand over the plan's window (demand.window_min): 30 minutes from
the largest aggregate slot (Wh x 2 / 1000), 15 minutes from the stored interval records (raw),
whose register deltas gateway/demand.py spreads over the windows. A plan
that needs another quantity (kVArh, a given amount) cannot be billed from a meter: that is a
409 saying so, and `python -m gateway bill` bills it from given quantities instead.
"""
from fractions import Fraction

from gateway import billcalc, demand
from gateway.billing import SLOT, BillError
from prepay.record import F_GAP, F_UNSYNCED

DEMAND_QUANTITIES = ("max_demand_kw", "excess_demand_kw")


def max_demand(db, meter_id, mid, plan, start, end):
    """{"kw": Fraction, "window_min", "source"} of the month [start, end) (UTC), or None when
    the plan prices no demand."""
    if not plan.uses(*DEMAND_QUANTITIES):
        return None
    lo, hi = -(-start // SLOT), -(-end // SLOT)
    if plan.demand_window_min == 30:     # the aggregates' slots are the 30-minute windows
        wh = db.execute("SELECT coalesce(max(wh), 0) FROM agg30 WHERE mid=? AND slot>=? AND"
                        " slot<?", (mid, lo, hi)).fetchone()[0]
        return {"kw": Fraction(wh * 2, 1000), "window_min": 30, "source": "agg30"}
    # 15 minutes: from the records, with the one before the month for its first interval
    rows = db.execute("SELECT seq, t, wh, flags FROM raw WHERE mid=? AND t>? AND t<=?"
                      " ORDER BY seq", (mid, start - 3600, end)).fetchall()
    stored = db.execute("SELECT coalesce(sum(wh), 0) FROM agg30 WHERE mid=? AND slot>=? AND"
                        " slot<?", (mid, lo, hi)).fetchone()[0]
    if stored and not any(start < r[1] <= end for r in rows):
        raise BillError(409, "meter %s: the plan's maximum demand over 15 minutes needs the "
                        "month's interval records, which were pruned (retention); only "
                        "30-minute demand is kept in the aggregates" % meter_id)
    skip = {r[0] for r in db.execute("SELECT seq FROM anomalies WHERE mid=? AND t>? AND t<=?",
                                     (mid, start - 3600, end))}
    intervals = demand.register_intervals(rows, F_GAP | F_UNSYNCED, skip)
    return {"kw": demand.max_demand_spread_kw(intervals, 900, start, end), "window_min": 15,
            "source": "raw"}


def _kilo(v):
    """A meter attribute in W or VA -> kW or kVA (None unless a non-negative integer)."""
    return Fraction(v, 1000) if isinstance(v, int) and not isinstance(v, bool) and v >= 0 \
        else None


def lines(plan, meter, first, last, energy_wh, demand_kw, carry_in=0):
    """(lines, total in minor units, the billcalc dict) of the meter's days in service
    first..last (days since 1970; none when last < first) of a local month or read-to-read
    period: from its `connected` day, up to its `disconnected` day (gateway/service_dates.py),
    like format 1 prorates. carry_in: the rounding remainder of the last invoice, for a plan
    that carries it."""
    if last < first:
        return [], 0, None
    sanctioned, sanctioned_kva = (_kilo(meter.get(k)) for k in ("sanctioned_load_w",
                                                                 "sanctioned_load_va"))
    try:
        q = billcalc.quantities(plan, {}, Fraction(energy_wh, 1000), sanctioned, demand_kw,
                                sanctioned_kva)
        out = billcalc.bill(plan, first, last, q, Fraction(carry_in) if plan.carry else 0)
    except billcalc.QuantityError as e:
        raise BillError(409, "meter %s cannot be billed with this plan: %s (a meter gives "
                        "kwh, sanctioned_kw and sanctioned_kva from sanctioned_load_w and "
                        "sanctioned_load_va, and max_demand_kw; bill "
                        "other quantities with python -m gateway bill)" % (meter["id"], e))
    return out["lines"], int(Fraction(out["total"]) * 10 ** plan.decimals), out
