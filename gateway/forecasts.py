"""A meter's forecasts at the gateway: days of credit left and the month-end projection,
computed by prepay/forecast.py (the range and the projection, on prepay/days_left.py, the
one days-left rule that the meter runs too) from the stored 30-minute aggregates, the
meter's tariff and its newest reported credit.

The month-end figure is what the meter's tariff charges over the local calendar month
(energy at the rates in force plus the standing charge), the prepaid "bill": used so far
from the aggregates, the rest projected with the same range as the days left.
"""
import calendar
import datetime

from prepay.forecast import WEEK_H, History, Plan
from prepay.tariff import Tariff, split_um

SLOT_S = 1800
_NO_TARIFF = Tariff({})   # no tariff named: nothing is charged, so credit never runs out


def history(store, meter, now):
    """The meter's last week (and the current hour) of energy, by local hour."""
    off = meter.get("utc_offset_min", 0) * 60
    h = History()
    for r in store.query(
            "SELECT a.slot, a.wh FROM agg30 a JOIN meters m USING(mid) WHERE m.id=?"
            " AND a.slot>=? AND a.slot<=? ORDER BY a.slot",
            (meter["id"], (now - (WEEK_H + 1) * 3600) // SLOT_S, now // SLOT_S)):
        h.add(r["slot"] * SLOT_S + off, r["wh"])
    return h


def tariff(store, meter):
    t = store.rollup.pricing.tariff(meter.get("tariff"))
    return _NO_TARIFF if t is None else t


def days(seconds):
    """Seconds -> days as a decimal string with two places (rounded down); None stays."""
    if seconds is None:
        return None
    x = seconds * 100 // 86400
    return "%d.%02d" % divmod(x, 100)


def plan(store, meter, now):
    """The meter's prepay.forecast.Plan for the local hour of `now`."""
    return Plan(history(store, meter, now), tariff(store, meter),
                now + meter.get("utc_offset_min", 0) * 60)


class Plans:
    """Each meter's plan for the current hour, kept: the runs_out alert asks every
    evaluation (every 30 s by default), and a plan changes only with the hour: making one
    took 0.5 ms a meter, asking a kept one 4 us (tests/bench/bench_forecast.py). The
    history and the tariff's edits reach it at the next hour."""

    def __init__(self):
        self.plans = {}   # meter id -> (local hour, Plan)

    def get(self, store, meter, now):
        h = (now + meter.get("utc_offset_min", 0) * 60) // 3600
        got = self.plans.get(meter["id"])
        if got is None or got[0] != h:
            got = self.plans[meter["id"]] = (h, plan(store, meter, now))
        return got[1]


def days_left_of(store, meter, credit, now, plans=None):
    """The estimate for a meter with `credit` minor units at `now` (UTC): a dict. plans: a
    Plans kept by the caller, or None to make the plan for this once."""
    off = meter.get("utc_offset_min", 0) * 60
    p = plans.get(store, meter, now) if plans is not None else plan(store, meter, now)
    e = p.days_left(credit, now + off)
    out = {"days": days(e.seconds), "soonest_days": days(e.soonest),
           "latest_days": days(e.latest), "runs_out_at": None if e.seconds is None
           else now + e.seconds, "seconds": e.seconds, "basis": e.basis,
           "history_hours": e.hours, "needs_hours": e.needs_hours}
    out["text"] = explain(credit, e)
    return out


def explain(credit, e):
    if e.basis == "none":
        return "unknown: no complete hour of use recorded yet"
    used = "from %d h of history" % e.hours
    if e.needs_hours:
        used += " (%d more for a full-week estimate)" % e.needs_hours
    if credit <= 0:
        return "no credit left"
    if e.seconds is None:
        return "more than a year at recent use, " + used
    rng = "%s to %s" % (days(e.soonest), days(e.latest) or "more than 366")
    return "about %s days (%s) at recent use, %s" % (days(e.seconds), rng, used)


def month_end(store, meter, now):
    """Cost of the local calendar month: so far, and projected to its end with a range."""
    off = meter.get("utc_offset_min", 0) * 60
    local = datetime.datetime.fromtimestamp(now + off, datetime.timezone.utc)
    start = calendar.timegm(local.replace(day=1, hour=0, minute=0, second=0,
                                          microsecond=0).timetuple())
    n_days = calendar.monthrange(local.year, local.month)[1]
    end = start + n_days * 86400                       # local epoch seconds
    t = tariff(store, meter)
    row = store.query("SELECT coalesce(sum(a.cost_um), 0) c, coalesce(sum(a.wh), 0) wh"
                      " FROM agg30 a JOIN meters m USING(mid) WHERE m.id=? AND a.slot>=?"
                      " AND a.slot<=?", (meter["id"], (start - off) // SLOT_S, now // SLOT_S))[0]
    so_far = row["c"] + t.standing_milli * 1000 * (now + off - start) // 86400
    rest = plan(store, meter, now).spend(now + off, end - (now + off))
    out = {"period": "%04d-%02d" % (local.year, local.month), "so_far": split_um(so_far)[0],
           "so_far_wh": row["wh"], "basis": rest[3], "history_hours": rest[4]}
    if rest[0] is None:
        out.update(expected=None, low=None, high=None,
                   text="unknown: no complete hour of use recorded yet")
        return out
    out.update(expected=split_um(so_far + rest[0])[0], low=split_um(so_far + rest[1])[0],
               high=split_um(so_far + rest[2])[0])
    out["text"] = "about %d (%d to %d) by the end of %s, %d so far, from %d h of history" % (
        out["expected"], out["low"], out["high"], out["period"], out["so_far"], rest[4])
    return out


def forecast(store, m, credit, now):
    """Both forecasts for GET /api/meters/{id}/forecast, for meter m (a store.meter dict)
    whose newest credit is `credit` (gateway/alerts.credit_state, or None: never reported)."""
    c = credit
    out = {"meter": m["id"], "at": now, "credit": c,
           "month_end": month_end(store, m, now)}
    out["days_left"] = None if c is None else days_left_of(store, m, c["credit"], now)
    return out
