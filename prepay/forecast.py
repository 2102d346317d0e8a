# The gateway's forecasts from a meter's own recent consumption, built on the one days-left
# rule that the meter runs too (prepay/days_left.py): how long the credit lasts with a range
# around it, and what a period (the rest of the month) will cost. Runs on MicroPython and
# CPython (tests/prepay/test_forecast.py checks both); money is in exact integers
# (micro-minor units, prepay/tariff.py), energy in Wh.
#
# The central figure is days_left.py's: the complete hours of the last week by time-of-use
# bucket, priced at each bucket's rate, scaled to a day, plus the standing charge. So the
# meter and the gateway say the same on the same history. What the meter cannot afford to
# keep is here:
#   the range   every day like the heaviest (soonest end) or the lightest (latest end) whole
#               day (24-hour block back from the newest hour) of the history, each priced by
#               its own buckets; with less than a day, every hour like the heaviest or the
#               lightest hour. So after a step up in use the soonest end is the new level.
#   the basis   how much history there is: "week" (168 complete hours), "day" (24 to 167),
#               "hours" (1 to 23), "none"
#   spend()     the cost of a period ahead at the same daily costs, with the range
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from prepay.days_left import buckets, daily_um, estimate, seconds_left, tally
from prepay.history import WEEK_H, History

__all__ = ["WEEK_H", "History", "Estimate", "Plan", "days_left", "spend"]

_DAY_H = const(24)
_DAY_S = const(86400)
HORIZON_DAYS = const(366)   # a forecast further out says "more than this"


class Estimate:
    """seconds: until the credit runs out (None: not within HORIZON_DAYS, or unknown);
    soonest and latest: the range; hours: complete hours of history used; basis: see the
    top of this module; needs_hours: more hours needed for a full-week estimate."""

    def __init__(self, seconds, soonest, latest, hours, basis):
        self.seconds = seconds
        self.soonest = soonest
        self.latest = latest
        self.hours = hours
        self.basis = basis
        self.needs_hours = WEEK_H - hours

    def days_x100(self, seconds):
        """Days in hundredths, rounded down (None stays None), for the page and telemetry."""
        return None if seconds is None else seconds * 100 // 86400


def _basis(hours):
    if hours <= 0:
        return "none"
    if hours < _DAY_H:
        return "hours"
    return "day" if hours < WEEK_H else "week"


def _within(seconds):
    return None if seconds is None or seconds > HORIZON_DAYS * _DAY_S else seconds


class Plan:
    """The daily costs of a meter's last week at local hour t_local // 3600: expected
    (days_left.py's), heaviest and lightest, made once and asked for any credit or period
    within that hour (the gateway keeps one per meter and hour)."""

    def __init__(self, history, tariff, t_local):
        self.now_h = t_local // 3600
        by = buckets(tariff)
        self.hours, self.day_um = estimate(history, tariff, self.now_h, by)
        self.basis = _basis(self.hours)
        lo, hi = history.span(self.now_h)
        # the range: whole days (24-hour blocks back from the newest hour) or, with less
        # than a day, single hours, each priced by its own buckets
        block = _DAY_H if self.hours >= _DAY_H else 1
        self.heavy_um = self.light_um = None
        end = hi
        while end - block + 1 >= lo:
            c = daily_um(by, tally(history, tariff, end - block + 1, end, by), tariff)
            if self.heavy_um is None or c > self.heavy_um:
                self.heavy_um = c
            if self.light_um is None or c < self.light_um:
                self.light_um = c
            end -= block

    def days_left(self, credit_minor, t_local=None):
        """Estimate of when credit_minor runs out (the same at any time in this plan's hour)."""
        return Estimate(_within(seconds_left(credit_minor, self.day_um)),
                        _within(seconds_left(credit_minor, self.heavy_um)),
                        _within(seconds_left(credit_minor, self.light_um)),
                        self.hours, self.basis)

    def spend(self, t_local, seconds):
        """(expected, low, high, basis, hours): cost in micro-minor units of the next
        `seconds`; the costs are None with no history."""
        if self.day_um is None:
            return None, None, None, self.basis, 0
        return (self.day_um * seconds // _DAY_S, self.light_um * seconds // _DAY_S,
                self.heavy_um * seconds // _DAY_S, self.basis, self.hours)


def days_left(history, tariff, credit_minor, t_local):
    """Estimate of when credit_minor runs out, from local time t_local (UTC + the meter's
    offset, as for the tariff)."""
    return Plan(history, tariff, t_local).days_left(credit_minor, t_local)


def spend(history, tariff, t_local, seconds):
    """Plan.spend, for a plan made for this once."""
    return Plan(history, tariff, t_local).spend(t_local, seconds)
