"""A meter's days in service, the one rule every bill prorates by (docs/billing.md, "A meter
connected or removed during the month").

Two local dates bound them: `connected`, the day its supply began (a meter attribute), and
`disconnected`, the day it was removed or the consumer moved out (a column, migration
0006): both days are in service. A period's bill counts the days of it between the two, so
the first month runs from `connected` and the last one up to and including `disconnected`;
a meter connected and removed in the same month is billed for the days between. After the
removal day the meter has no bill, and its records (still stored) are billed by nobody.
"""
import time

from prepay.problems import Problem
from prepay.tariff_parse import parse_date as _days

DAY = 86400


def date_days(s):
    """"YYYY-MM-DD" -> days since 1970 for a real calendar date from 1970 on, else None (the
    one date check, prepay/tariff_parse.py's)."""
    try:
        n = _days(s, "date")
    except Problem:
        return None
    return n if n >= 0 else None


def _day(meter, key):
    """The meter's `key` date as days since 1970, None when unset; ValueError when the store
    holds something else (it reached it by another path than the API's check)."""
    v = meter.get(key)
    if v is None:
        return None
    n = date_days(v)
    if n is None:
        raise ValueError("meter %s: %s must be a date YYYY-MM-DD, got %r" % (meter["id"], key, v))
    return n


def span(meter, start, end):
    """(lo, hi): UTC epoch seconds of the local midnights that bound the meter's days in
    service within [start, end) (themselves local midnights); lo == hi when it served none."""
    first, until = _day(meter, "connected"), removed_at(meter)
    lo = start if first is None else max(start, first * DAY - int(meter["utc_offset_min"]) * 60)
    hi = end if until is None else min(end, until)
    return lo, max(lo, hi)


def removed_at(meter):
    """UTC epoch seconds of the local midnight that ends the removal day (None: in service)."""
    last = _day(meter, "disconnected")
    return None if last is None else (last + 1) * DAY - int(meter["utc_offset_min"]) * 60


def today(off_min, now=None):
    """Days since 1970 of the local date at `now` (default: the wall clock)."""
    return (int(time.time() if now is None else now) + off_min * 60) // DAY


def check(connected, disconnected, off_min, now=None):
    """Why a meter's dates cannot be stored (None: they can): each must be a real date, the
    removal neither before the connection nor after the meter's local today."""
    for key, v in (("connected", connected), ("disconnected", disconnected)):
        if v is not None and date_days(v) is None:
            return "%s: must be a date YYYY-MM-DD, got %r" % (key, v)
    if disconnected is None:
        return None
    last = date_days(disconnected)
    if connected is not None and last < date_days(connected):
        return "disconnected: %s is before the meter was connected (%s)" % (disconnected,
                                                                            connected)
    if last > today(off_min, now):
        return "disconnected: %s is in the future (a meter is removed on or before today)" \
            % disconnected
    return None
