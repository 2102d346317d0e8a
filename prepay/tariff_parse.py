# Tariff documents -> the compact form prepay.tariff.Tariff runs on, with every problem
# reported as data, (key, code, values) (prepay/problems.py: its English text there, the
# consumer's language on the meter's page). Only needed while a tariff is being loaded: the
# meter drops this module after boot (credit.core), the gateway just keeps it. Both runtimes.
from prepay.civil import civil_from_days, days_from_civil
from prepay.problems import Problem
from prepay.windows import DAYS, GROUPS, Windows

_MAX_RATE = 100000000   # 100,000 minor units per kWh: anything above is a typo
KEYS = ("name", "rates", "default", "windows", "weekend", "holidays", "standing_per_day")


def parse_milli(v, what):
    """Minor units as int or decimal string (<= 3 decimals) -> integer milli-minor units."""
    if type(v) is int:
        if v < 0:
            raise Problem(what, "negative")
        return v * 1000
    if type(v) is not str:
        raise Problem(what, "money_type", type(v).__name__)
    whole, _, frac = v.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 3:
        raise Problem(what, "decimals", repr(v))
    return int(whole) * 1000 + int((frac + "000")[:3])


def parse_hhmm(s, what, allow_24=False):
    """"HH:MM" -> minute of day."""
    ok = type(s) is str and len(s) == 5 and s[2] == ":" and s[:2].isdigit() and s[3:].isdigit()
    if ok:
        h, m = int(s[:2]), int(s[3:])
        if m < 60 and (h < 24 or (allow_24 and h == 24 and m == 0)):
            return h * 60 + m
    raise Problem(what, "time", repr(s), "24:00" if allow_24 else "23:59")


def parse_date(s, what):
    """"YYYY-MM-DD" -> days since 1970-01-01 (negative before). Digits only: int() alone
    would take "2025- 1-01" and "+202-01-01"."""
    try:
        if (type(s) is not str or len(s) != 10 or s[4] != "-" or s[7] != "-"
                or not (s[:4].isdigit() and s[5:7].isdigit() and s[8:].isdigit())):
            raise ValueError
        y, m, d = int(s[:4]), int(s[5:7]), int(s[8:])
        n = days_from_civil(y, m, d)
        if civil_from_days(n) != (y, m, d):  # rejects 2025-02-30 and friends
            raise ValueError
        return n
    except ValueError:
        raise Problem(what, "date", repr(s))


def calendar(doc, errors):
    """weekend + holidays of a tariff document -> Windows with no windows yet."""
    wk = doc.get("weekend", ["sat", "sun"])
    weekend = []
    if type(wk) is not list or any(d not in DAYS for d in wk):
        errors.append(("tariff.weekend", "weekend", (", ".join(DAYS),)))
    else:
        weekend = [DAYS.index(d) for d in wk]
    hol = doc.get("holidays", [])
    days = set()
    if type(hol) is not list:
        errors.append(("tariff.holidays", "holidays", ()))
    else:
        for i, s in enumerate(hol):
            try:
                days.add(parse_date(s, "tariff.holidays[%d]" % i))
            except Problem as e:
                errors.append(e.problem)
    return Windows(tuple(weekend), days)


def unknown_keys(doc, keys, what, errors):
    for k in doc:
        if k not in keys:
            errors.append((what, "key_unknown", (repr(k), ", ".join(keys))))


def window(cal, spec, tag, what, errors, keys=("days", "from", "to")):
    """Check one window object and add it to cal: {"days": [...], "from": "HH:MM",
    "to": "HH:MM"} (+ "rate" for tariff windows). from/to omitted = the whole day."""
    if type(spec) is not dict:
        errors.append((what, "must_object", ()))
        return
    unknown_keys(spec, keys, what, errors)
    days = spec.get("days", ["all"])
    if type(days) is not list or not days:
        errors.append((what + ".days", "days_empty", ()))
        return
    for d in days:
        if d not in DAYS and d not in GROUPS:
            errors.append((what + ".days", "day", (repr(d), ", ".join(DAYS + GROUPS))))
            return
    if ("from" in spec) != ("to" in spec):
        errors.append((what, "from_to", ()))
        return
    f, t = 0, 1440
    if "from" in spec:
        try:
            f = parse_hhmm(spec["from"], what + ".from")
            t = parse_hhmm(spec["to"], what + ".to", True)
        except Problem as e:
            errors.append(e.problem)
            return
        if f == t % 1440:
            errors.append((what, "from_is_to", ()))
            return
    cal.items.append((tag, tuple(days), f, t))


def parse(t, doc, errors):
    """Fill Tariff t from doc, appending every problem to errors."""
    if type(doc) is not dict:
        errors.append(("tariff", "must_object", ()))
        doc = {}
    unknown_keys(doc, KEYS, "tariff", errors)
    t.name = doc.get("name", "")
    if type(t.name) is not str:
        errors.append(("tariff.name", "string", ()))
    empty = not doc
    rates = doc.get("rates", {} if empty else None)
    if type(rates) is not dict or (not rates and not empty):
        errors.append(("tariff.rates", "rates", ()))
        rates = {}
    for name in sorted(rates):
        what = "tariff.rates.%s" % name
        try:
            r = parse_milli(rates[name], what)
        except Problem as e:
            errors.append(e.problem)
            continue
        if r > _MAX_RATE:
            errors.append((what, "rate_high", (r // 1000,)))
            continue
        t.names.append(name)
        t.rates.append(r)
    if not empty:
        d = doc.get("default", t.names[0] if len(t.names) == 1 else None)
        if d not in t.names:
            errors.append(("tariff.default", "rate_name", (", ".join(t.names),)))
        else:
            t.default = t.names.index(d)
    t.cal = calendar(doc, errors)
    wins = doc.get("windows", [])
    if type(wins) is not list:
        errors.append(("tariff.windows", "list", ()))
        wins = []
    for i, w in enumerate(wins):
        what = "tariff.windows[%d]" % i
        r = w.get("rate") if type(w) is dict else None
        if r not in t.names:
            errors.append((what + ".rate", "rate_name", (", ".join(t.names),)))
            continue
        window(t.cal, w, t.names.index(r), what, errors, ("rate", "days", "from", "to"))
    try:
        t.standing_milli = parse_milli(doc.get("standing_per_day", 0), "tariff.standing_per_day")
    except Problem as e:
        errors.append(e.problem)
