# Tariff rules, written once: the meter debits credit with them and the gateway reuses them
# for reconciliation and cost by time-of-use bucket. Runs on MicroPython and CPython; no
# floats touch money and no time module is used (epochs differ between ports): local time
# is UTC epoch seconds + the configured offset, and calendar maths is done here.
#
# Units (docs/tariffs.md):
#   rates      milli-minor units per kWh, which is also micro-minor units per Wh, so the
#              exact cost of N Wh is N * rate micro-minor units: integer, no rounding at all
#   money out  whole minor units; price() rounds DOWN and returns the remainder (< 10**6
#              micro-minor) as a carry the caller passes back next time, so a long run of
#              small debits adds up to exactly the sum of the exact costs (nothing drifts,
#              never more than one minor unit in the carry).
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

UM = const(1000000)          # micro-minor units per minor unit
DAY_S = const(86400)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_GROUPS = ("weekday", "weekend", "holiday", "all")
_MAX_RATE = const(100000000)  # 100,000 minor units per kWh: anything above is a typo
_KEYS = ("name", "rates", "default", "windows", "weekend", "holidays", "standing_per_day")


class TariffError(ValueError):
    """Bad tariff definition; .errors lists every problem found (str(e) joins them)."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


# ---- exact parsing of money and time --------------------------------------------------

def parse_milli(v, what):
    """Minor units as int or decimal string (<= 3 decimals) -> integer milli-minor units."""
    if type(v) is int:
        if v < 0:
            raise ValueError("%s: must not be negative" % what)
        return v * 1000
    if type(v) is not str:
        raise ValueError("%s: use an integer or a decimal string like \"7.125\", not %s"
                         % (what, type(v).__name__))
    whole, _, frac = v.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 3:
        raise ValueError("%s: %r is not a decimal with at most 3 decimals" % (what, v))
    return int(whole) * 1000 + int((frac + "000")[:3])


def parse_hhmm(s, what, allow_24=False):
    """"HH:MM" -> minute of day."""
    ok = type(s) is str and len(s) == 5 and s[2] == ":" and s[:2].isdigit() and s[3:].isdigit()
    if ok:
        h, m = int(s[:2]), int(s[3:])
        if m < 60 and (h < 24 or (allow_24 and h == 24 and m == 0)):
            return h * 60 + m
    raise ValueError("%s: %r is not a time HH:MM (00:00-%s)" % (what, s, "24:00" if allow_24 else "23:59"))


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """Inverse of days_from_civil -> (y, m, d)."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def parse_date(s, what):
    """"YYYY-MM-DD" -> days since 1970-01-01."""
    try:
        if type(s) is not str or len(s) != 10 or s[4] != "-" or s[7] != "-":
            raise ValueError
        y, m, d = int(s[:4]), int(s[5:7]), int(s[8:])
        n = days_from_civil(y, m, d)
        if civil_from_days(n) != (y, m, d):  # rejects 2025-02-30 and friends
            raise ValueError
        return n
    except ValueError:
        raise ValueError("%s: %r is not a date YYYY-MM-DD" % (what, s))


def local_seconds(utc, offset_min):
    """Local wall-clock seconds since 1970-01-01 00:00 local."""
    return utc + offset_min * 60


def weekday(day):
    """0 = Monday for a day number (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


# ---- day and time windows (shared with credit's friendly windows) ---------------------

class Windows:
    """Ordered (tag, days, from, to) windows; the first that matches a local time wins.
    days is a set-like tuple of names: mon..sun, weekday, weekend, holiday, all. A
    holiday is matched only by "holiday" and "all"; weekday/weekend and day names mean
    ordinary (non-holiday) days. from > to wraps past midnight on the same date."""

    def __init__(self, weekend, holidays):
        self.weekend = weekend      # tuple of weekday numbers
        self.holidays = holidays    # set of day numbers
        self.items = []             # (tag, day_names, from_min, to_min)

    def add(self, spec, tag, what, errors, keys=("days", "from", "to")):
        if type(spec) is not dict:
            errors.append("%s: must be an object" % what)
            return
        for k in spec:
            if k not in keys:
                errors.append("%s: unknown key %r" % (what, k))
        days = spec.get("days", ["all"])
        if type(days) is not list or not days:
            errors.append("%s.days: must be a non-empty list" % what)
            return
        for d in days:
            if d not in DAYS and d not in _GROUPS:
                errors.append("%s.days: %r is not one of %s" % (what, d, ", ".join(DAYS + _GROUPS)))
                return
        has_f, has_t = "from" in spec, "to" in spec
        if has_f != has_t:
            errors.append("%s: give both from and to, or neither (whole day)" % what)
            return
        f, t = 0, 1440
        try:
            if has_f:
                f = parse_hhmm(spec["from"], what + ".from")
                t = parse_hhmm(spec["to"], what + ".to", True)
                if f == t % 1440:
                    raise ValueError("%s: from equals to; omit both for a whole day" % what)
        except ValueError as e:
            errors.append(str(e))
            return
        self.items.append((tag, tuple(days), f, t))

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


def parse_calendar(doc, errors):
    """weekend + holidays of a tariff document -> Windows with no items."""
    wk = doc.get("weekend", ["sat", "sun"])
    weekend = []
    if type(wk) is not list or any(d not in DAYS for d in wk):
        errors.append("tariff.weekend: must be a list of day names (%s)" % ", ".join(DAYS))
    else:
        weekend = [DAYS.index(d) for d in wk]
    hol = doc.get("holidays", [])
    days = set()
    if type(hol) is not list:
        errors.append("tariff.holidays: must be a list of dates YYYY-MM-DD")
    else:
        for i, s in enumerate(hol):
            try:
                days.add(parse_date(s, "tariff.holidays[%d]" % i))
            except ValueError as e:
                errors.append(str(e))
    return Windows(tuple(weekend), days)


class Tariff:
    """A validated tariff. An empty document {} is the explicit "no tariff" case: every
    rate is 0 and there is no standing charge (docs/tariffs.md)."""

    def __init__(self, doc):
        errors = []
        if type(doc) is not dict:
            raise TariffError(["tariff: must be an object"])
        for k in doc:
            if k not in _KEYS:
                errors.append("tariff: unknown key %r (known: %s)" % (k, ", ".join(_KEYS)))
        self.name = doc.get("name", "")
        self.empty = not doc
        self.names = []   # rate names, index = rate id
        self.rates = []   # milli-minor per kWh == micro-minor per Wh
        rates = doc.get("rates", {} if self.empty else None)
        if type(rates) is not dict or (not rates and not self.empty):
            errors.append("tariff.rates: must be an object of name -> rate per kWh, at least one")
            rates = {}
        for name in sorted(rates):
            try:
                r = parse_milli(rates[name], "tariff.rates.%s" % name)
                if r > _MAX_RATE:
                    raise ValueError("tariff.rates.%s: %d minor units per kWh is implausibly high"
                                     % (name, r // 1000))
                self.names.append(name)
                self.rates.append(r)
            except ValueError as e:
                errors.append(str(e))
        self.default = 0
        if not self.empty:
            d = doc.get("default", self.names[0] if len(self.names) == 1 else None)
            if d not in self.names:
                errors.append("tariff.default: must name one of the rates (%s)" % ", ".join(self.names))
            else:
                self.default = self.names.index(d)
        self.cal = parse_calendar(doc, errors)
        wins = doc.get("windows", [])
        if type(wins) is not list:
            errors.append("tariff.windows: must be a list")
            wins = []
        for i, w in enumerate(wins):
            what = "tariff.windows[%d]" % i
            r = w.get("rate") if type(w) is dict else None
            if r not in self.names:
                errors.append("%s.rate: must name one of the rates (%s)" % (what, ", ".join(self.names)))
                continue
            self.cal.add(w, self.names.index(r), what, errors, ("rate", "days", "from", "to"))
        try:
            self.standing_milli = parse_milli(doc.get("standing_per_day", 0), "tariff.standing_per_day")
        except ValueError as e:
            errors.append(str(e))
            self.standing_milli = 0
        if errors:
            raise TariffError(errors)
        self.max_rate = max(self.rates) if self.rates else 0
        self.min_rate = min(self.rates) if self.rates else 0

    # ---- lookups at a LOCAL time (see local_seconds)
    def rate_id(self, t_local):
        r = self.cal.match(t_local)
        return self.default if r is None else r

    def bucket(self, t_local):
        """Name of the rate (time-of-use bucket) in force; "none" for the empty tariff."""
        return self.names[self.rate_id(t_local)] if self.names else "none"

    def rate(self, t_local):
        """Rate in force: milli-minor per kWh = micro-minor per Wh."""
        return self.rates[self.rate_id(t_local)] if self.rates else 0

    def is_holiday(self, t_local):
        return t_local // DAY_S in self.cal.holidays

    # ---- money
    def price(self, wh, t_local, carry=0):
        """Cost of wh Wh at the rate in force at t_local -> (minor units, new carry).
        Rounds down; the remainder (micro-minor units) is returned as the carry."""
        return split_um(wh * self.rate(t_local) + carry)

    def standing(self, days, carry=0):
        """Standing charge for whole days -> (minor units, new carry)."""
        return split_um(days * self.standing_milli * 1000 + carry)


def split_um(total_um):
    """micro-minor units -> (whole minor units rounded down, remainder 0 <= r < 10**6)."""
    return total_um // UM, total_um % UM


def cost_by_bucket(tariff, deltas, offset_min):
    """Gateway reconciliation: deltas is an iterable of (utc, wh) energy increments, each
    priced at the rate in force at utc. -> {bucket: [wh, minor]}, each bucket keeping its
    own carry; the total minor equals sum(wh * rate) // 10**6 per bucket."""
    acc = {}
    for utc, wh in deltas:
        t = local_seconds(utc, offset_min)
        b = tariff.bucket(t)
        a = acc.get(b)
        if a is None:
            a = acc[b] = [0, 0, 0]   # wh, minor, carry
        a[0] += wh
        m, a[2] = tariff.price(wh, t, a[2])
        a[1] += m
    return {b: [a[0], a[1]] for b, a in acc.items()}
