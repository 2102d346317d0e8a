# Days of credit left: the one rule that the meter (its page, telemetry and low-credit
# warning) and the gateway (its API and runs_out alert; prepay/forecast.py builds the range
# and the month-end projection on it) share. Small on purpose: no lists are made, money is
# exact integers (micro-minor units, prepay/tariff.py). The meter (device/credit/days.py)
# loads it each local hour, at boot and after a top-up, and drops it after.
#
#   History        (prepay/history.py) Wh of each local hour of the last week, fed in any
#                  amounts by the meter (each window) or the gateway (each 30-minute slot)
#   tally()        the Wh of some complete hours by time-of-use bucket (the tariff's rate id
#                  in force in each hour), into the caller's preallocated array
#   daily_um()     the average day of those hours, priced: each bucket's Wh at its rate,
#                  scaled to 24 hours, plus the standing charge
#   seconds_left() credit / that daily cost
#   estimate()     the three for the last week at an hour
#
# The estimate uses every complete hour of the last week (history_hours says how many); it is
# unknown only with none. An hour that got nothing counts as no use: the meter measures all
# the time, and a meter without power has a consumer without power.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x
from array import array

from prepay.history import WEEK_H  # noqa: F401 (the rule's window, for its users)
from prepay.tariff import UM

_DAY_H = const(24)
_HOUR_S = const(3600)
_DAY_S = const(86400)


def buckets(tariff):
    """A zeroed array for tally(): one slot per time-of-use bucket (at least one)."""
    return array("l", [0] * max(1, len(tariff.rates)))


def tally(history, tariff, lo, hi, by_bucket):
    """Wh of local hours lo..hi of `history` by the bucket in force in each, into by_bucket
    (from buckets()); -> the number of hours (0 if hi < lo)."""
    for k in range(len(by_bucket)):
        by_bucket[k] = 0
    tou = len(by_bucket) > 1       # one rate: no calendar to look up
    h = lo
    while h <= hi:
        by_bucket[tariff.rate_id(h * _HOUR_S) if tou else 0] += history.at(h)
        h += 1
    return hi - lo + 1 if hi >= lo else 0


def daily_um(by_bucket, hours, tariff):
    """Cost (micro-minor) of the average day of `hours` hours whose use by bucket is
    by_bucket: energy at each bucket's rate, scaled to 24 hours (rounded down), plus the
    standing charge. None with no hours: unknown."""
    if hours <= 0:
        return None
    rates = tariff.rates
    energy = 0
    if rates:
        for k in range(len(by_bucket)):
            energy += by_bucket[k] * rates[k]
    return energy * _DAY_H // hours + tariff.standing_milli * 1000


def seconds_left(credit_minor, day_um):
    """Seconds until credit_minor is spent at day_um a day (rounded down): 0 with no
    credit; None when unknown (day_um None) or never (nothing costs anything)."""
    if day_um is None:
        return None
    if credit_minor <= 0:
        return 0
    if day_um <= 0:
        return None
    return credit_minor * UM * _DAY_S // day_um


def estimate(history, tariff, now_h, by_bucket):
    """(hours, daily cost) of the complete hours of the last week at local hour now_h."""
    lo, hi = history.span(now_h)
    hours = tally(history, tariff, lo, hi, by_bucket)
    return hours, daily_um(by_bucket, hours, tariff)
