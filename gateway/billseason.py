"""Seasons of a format-2 plan (docs/billing.md, "Seasons"): named spans of the calendar
year, such as summer 06-01..09-30 and winter 10-01..05-31, that select a plan's seasonal
lines by date. A bill period that spans a season change is split there, as it is at a new
tariff version (gateway/billcalc.py segments).

Spans are month-day pairs, both days included, and may wrap the new year. Together the
seasons must cover every day of the year exactly once, so no day is billed by two seasons'
blocks nor by none. 29 February belongs to the season of 28 February unless one names it.
"""
from prepay.tariff_parse import civil_from_days, days_from_civil

_LEAP = 2000     # day-of-year ordinals are taken in a leap year, so 02-29 has one


def _month_day(v, what, errors):
    """"MM-DD" -> (m, d), or None after an error."""
    try:
        if type(v) is not str or len(v) != 5 or v[2] != "-":
            raise ValueError
        m, d = int(v[:2]), int(v[3:])
        if civil_from_days(days_from_civil(_LEAP, m, d)) != (_LEAP, m, d):
            raise ValueError
        return m, d
    except ValueError:
        errors.append("%s: %r is not a day of the year MM-DD" % (what, v))
        return None


def _ordinal(m, d):
    return days_from_civil(_LEAP, m, d) - days_from_civil(_LEAP, 1, 1)


class Seasons:
    """{name: {"from": "MM-DD", "to": "MM-DD"}} validated; .of(day) names a day's season."""

    def __init__(self, doc, errors):
        self.names = ()
        self._by_ordinal = [None] * 366
        if doc is None:
            return
        if not isinstance(doc, dict) or not doc:
            errors.append("plan.seasons: must be an object {name: {\"from\": \"MM-DD\", "
                          "\"to\": \"MM-DD\"}}")
            return
        before = len(errors)
        owner = [[] for _ in range(366)]
        for name, span in doc.items():
            what = "seasons.%s" % name
            if not isinstance(span, dict) or set(span) != {"from", "to"}:
                errors.append("%s: must be {\"from\": \"MM-DD\", \"to\": \"MM-DD\"}" % what)
                continue
            lo = _month_day(span["from"], what + ".from", errors)
            hi = _month_day(span["to"], what + ".to", errors)
            if lo is None or hi is None:
                continue
            a, b = _ordinal(*lo), _ordinal(*hi)
            for n in (range(a, b + 1) if a <= b else list(range(a, 366)) + list(range(b + 1))):
                owner[n].append(name)
        if len(errors) > before:
            return
        feb29 = _ordinal(2, 29)
        if not owner[feb29]:                  # unnamed: it follows 28 February
            owner[feb29] = owner[feb29 - 1]
        for n, names in enumerate(owner):
            y, m, d = civil_from_days(days_from_civil(_LEAP, 1, 1) + n)
            if len(names) != 1:
                errors.append("plan.seasons: %02d-%02d is in %s (each day of the year must "
                              "be in exactly one season)" % (
                                  m, d, " and ".join(sorted(names)) if names else "no season"))
                return
            self._by_ordinal[n] = names[0]
        self.names = tuple(doc)

    def of(self, day):
        """The season of a day (days since 1970), None for a plan without seasons."""
        if not self.names:
            return None
        y, m, d = civil_from_days(day)
        return self._by_ordinal[_ordinal(m, d)]

    def runs(self, first, last):
        """[(season, lo, hi)]: days first..last split where the season changes."""
        if not self.names:
            return [(None, first, last)]
        out = []
        for day in range(first, last + 1):
            s = self.of(day)
            if out and out[-1][0] == s:
                out[-1][2] = day
            else:
                out.append([s, day, day])
        return [tuple(r) for r in out]
