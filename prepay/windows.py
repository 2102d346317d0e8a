# Calendar windows, shared by the tariff (time-of-use rates) and the credit policy (friendly
# credit hours): which ordered window, if any, a local time falls in, with weekends and
# holidays. Built by prepay.tariff_parse; runs on MicroPython and CPython.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

DAY_S = const(86400)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GROUPS = ("weekday", "weekend", "holiday", "all")


def weekday(day):
    """0 = Monday for a day number (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


class Windows:
    """Ordered (tag, days, from, to) windows; the first that matches a local time wins.
    days names: mon..sun, weekday, weekend, holiday, all. A holiday is matched only by
    "holiday" and "all"; weekday/weekend and day names mean ordinary (non-holiday) days.
    from > to wraps past midnight on the same date. Built by tariff_parse."""

    def __init__(self, weekend, holidays):
        self.weekend = weekend      # tuple of weekday numbers
        self.holidays = holidays    # set of day numbers
        self.items = []             # (tag, day_names, from_min, to_min)

    def day_matches(self, names, day):
        if "all" in names:
            return True
        if day in self.holidays:
            return "holiday" in names
        wd = weekday(day)
        if DAYS[wd] in names:
            return True
        return ("weekend" if wd in self.weekend else "weekday") in names

    def match(self, t_local):
        """Tag of the first window containing local time t_local, or None."""
        day = t_local // DAY_S
        minute = (t_local % DAY_S) // 60
        for tag, names, f, t in self.items:
            inside = f <= minute < t if f < t else (minute >= f or minute < t)
            if inside and self.day_matches(names, day):
                return tag
        return None
