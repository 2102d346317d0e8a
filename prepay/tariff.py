# Tariff rules, written once: the meter debits credit with them and the gateway reuses them
# for reconciliation and cost by time-of-use bucket. Runs on MicroPython and CPython; no
# floats touch money and no time module is used (epochs differ between ports): local time
# is UTC epoch seconds + the configured offset, and calendar maths is done here.
# Parsing and validation of tariff documents live in tariff_parse (boot-time only).
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

from prepay.windows import DAY_S, DAYS, GROUPS, Windows, weekday  # noqa: F401 (re-exported)

UM = const(1000000)          # micro-minor units per minor unit


class TariffError(ValueError):
    """Bad tariff definition; .problems lists every problem found as data (key, code,
    values: prepay/problems.py), .errors the same in English (str(e) joins them)."""

    def __init__(self, problems):
        from prepay.problems import english
        errors = [english(p) for p in problems]
        super().__init__("; ".join(errors))
        self.problems = problems
        self.errors = errors


def local_seconds(utc, offset_min):
    """Local wall-clock seconds since 1970-01-01 00:00 local."""
    return utc + offset_min * 60


def split_um(total_um):
    """micro-minor units -> (whole minor units rounded down, remainder 0 <= r < 10**6)."""
    return total_um // UM, total_um % UM


class Tariff:
    """A validated tariff (raises TariffError listing every problem). The empty document
    {} is the explicit "no tariff" case: every rate is 0 and there is no standing charge."""

    def __init__(self, doc):
        from prepay.tariff_parse import parse
        self.name = ""
        self.names = []   # rate names, index = rate id
        self.rates = []   # milli-minor per kWh == micro-minor per Wh
        self.default = 0
        self.standing_milli = 0
        self.cal = None
        errors = []
        parse(self, doc, errors)
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

    def next_change(self, t_local, days=8):
        """(local time, rate id) of the first change of rate after t_local within `days`,
        or None. A rate changes only at a window's edge or at midnight (day rules), so only
        those minutes are looked at."""
        if len(self.rates) < 2:
            return None
        now = self.rate_id(t_local)
        edges = [0]
        for _, _, f, t in self.cal.items:
            for e in (f, t % 1440):
                if e not in edges:
                    edges.append(e)
        edges.sort()
        day = t_local // DAY_S
        for d in range(day, day + days + 1):
            for e in edges:
                t = d * DAY_S + e * 60
                if t > t_local:
                    r = self.rate_id(t)
                    if r != now:
                        return t, r
        return None

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


def cost_by_bucket(tariff, deltas, offset_min):
    """Gateway reconciliation: deltas is an iterable of (utc, wh) energy increments, each
    priced at the rate in force at utc. -> {bucket: [wh, minor]}, each bucket keeping its
    own carry, so a bucket's minor is exactly sum(wh * rate) // 10**6."""
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


def policy(tariff_doc, friendly_doc, errors):
    """The meter's tariff and its friendly-credit windows (a Windows sharing the tariff's
    weekend and holiday calendar) from config.json's `tariff` and `credit.friendly`,
    appending every problem (key, code, values) to errors. device/config.py validates a
    config with it and the credit module builds its parts with it, so what validates is what
    the meter can run."""
    from prepay.tariff_parse import calendar, window
    try:
        tariff = Tariff(tariff_doc)
    except TariffError as e:
        errors.extend(e.problems)
        tariff = Tariff({})
    friendly = calendar(tariff_doc if type(tariff_doc) is dict else {}, [])
    for i, w in enumerate(friendly_doc if type(friendly_doc) is list else ()):
        window(friendly, w, i, "credit.friendly[%d]" % i, errors)
    return tariff, friendly
