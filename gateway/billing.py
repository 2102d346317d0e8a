"""Bills (invoices) for one meter over one calendar month of its local time (docs/billing.md).

A billing plan (a JSON document in the billing_plans table) says how energy is charged:
  - "tou": the meter's own time-of-use tariff, as the aggregates already priced it (agg30
    cost_um per slot, computed by gateway/pricing.py with prepay/tariff.py; no second tariff
    implementation here), one line per time-of-use bucket, plus the tariff's standing charge;
  - "slabs": telescopic slabs of the month's energy (0-100 kWh at A, the next 200 at B, ...),
and which fixed charges (per month, per kW of the meter's sanctioned load), surcharges and
taxes (percentages of other lines) apply. A meter connected or removed during the month
(its `connected` and `disconnected` dates, gateway/service_dates.py) pays the standing charge
for its days of service and the fixed charges prorated by those days; a removed meter's last
bill is its final one (it shows the credit left on the meter), and it has none after.

Money: every line is computed exactly as an integer first (energy: Wh x milli-minor/kWh =
micro-minor units; fixed: milli-minor units; a percentage: minor units x milli-percent) and
rounded half-up to whole minor units ONCE, on that line. Percentages apply to the rounded
lines they name, so anyone can check the invoice from what it shows. The total is the sum of
the rounded lines.

Reconciliation (prepaid): the meter's credit in its interval records at the start and the
end of the period, plus the top-ups it accepted in between, gives what it debited; the bill
shows that next to what it computes, and the difference.
"""
import calendar
import re
import time

from gateway import service_dates
from prepay.tariff_parse import parse_milli

SLOT = 1800
KINDS = ("energy", "standing", "fixed", "surcharge")   # line kinds a percentage may apply to
PLAN_KEYS = ("name", "currency", "energy", "fixed", "surcharges", "taxes")
_PERIOD = re.compile(r"(\d{4})-(\d{2})\Z")
_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})\Z")
MAX_PERIOD_DAYS = 366              # a read-to-read period: up to a year (two-month cycles...)
DAY = 86400
_MAX_PCT = 100000 * 1000          # 100,000 % in milli-percent: anything above is a typo
_MAX_MILLI = 10**12                # 10^9 minor units: anything above is a typo


class PlanError(ValueError):
    """A bad billing plan; .errors lists every problem (str(e) joins them)."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


class BillError(Exception):
    """A bill that cannot be made (status: 400 bad period, 404 unknown meter/plan, 409 the
    meter and its plan do not fit together)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# -- rounding -------------------------------------------------------------------------------
def half_up(num, den):
    """num/den (num >= 0, den > 0) rounded half-up to an integer, exactly."""
    return (2 * num + den) // (2 * den)


def dec(num, den):
    """num/den as an exact decimal string of minor units (den a power of ten), e.g. "22.8"."""
    digits = len(str(den)) - 1
    whole, frac = divmod(num, den)
    s = str(whole)
    if frac:
        s += "." + str(frac).rjust(digits, "0").rstrip("0")
    return s


# -- plans ----------------------------------------------------------------------------------
class Plan:
    """A validated plan document (raises PlanError listing every problem)."""

    def __init__(self, doc):
        errors = []
        if not isinstance(doc, dict):
            raise PlanError(["plan: must be a JSON object"])
        self.v2 = None
        if "format" in doc:     # the tariff model of real bills (gateway/billplan.py)
            from gateway import billplan   # imports this module: loaded on first use
            self.v2 = billplan.Plan(doc)
            self.name, self.currency, self.energy = self.v2.name, self.v2.currency, None
            return
        known(doc, "plan", PLAN_KEYS, errors)
        self.name = text_field(doc, "name", "", errors)
        self.currency = text_field(doc, "currency", "", errors)
        self.energy, self.slabs = "tou", []
        en = doc.get("energy", {"type": "tou"})
        if not isinstance(en, dict):
            errors.append("energy: must be an object like {\"type\": \"tou\"} or "
                          "{\"type\": \"slabs\", \"slabs\": [...]}")
        else:
            self._energy(en, errors)
        self.fixed = [self._fixed(f, "fixed[%d]" % i, errors)
                      for i, f in enumerate(_list(doc, "fixed", errors))]
        self.surcharges = [self._pct(s, "surcharges[%d]" % i, ("energy",), errors)
                           for i, s in enumerate(_list(doc, "surcharges", errors))]
        self.taxes = [self._pct(s, "taxes[%d]" % i, ("energy", "standing", "fixed"), errors)
                      for i, s in enumerate(_list(doc, "taxes", errors))]
        if errors:
            raise PlanError(errors)

    def _energy(self, en, errors):
        known(en, "energy", ("type", "slabs"), errors)
        self.energy = en.get("type")
        if self.energy == "tou":
            if "slabs" in en:
                errors.append("energy.slabs: only for type \"slabs\"")
            return
        if self.energy != "slabs":
            errors.append("energy.type: must be \"tou\" (the meter's tariff) or \"slabs\", got %r"
                          % (self.energy,))
            return
        slabs = en.get("slabs")
        if not isinstance(slabs, list) or not slabs:
            errors.append("energy.slabs: must be a non-empty list of {\"upto_kwh\", \"rate\"}")
            return
        prev = 0
        for i, s in enumerate(slabs):
            what = "energy.slabs[%d]" % i
            if not isinstance(s, dict):
                errors.append("%s: must be an object {\"upto_kwh\", \"rate\"}" % what)
                continue
            known(s, what, ("upto_kwh", "rate"), errors)
            rate = _milli(s, "rate", what, errors)
            last = i == len(slabs) - 1
            upto = None
            if "upto_kwh" in s:
                upto = _milli(s, "upto_kwh", what, errors)   # milli-kWh == Wh
                if last:
                    errors.append("%s: the last slab has no upto_kwh (it takes the rest)" % what)
                elif upto is not None and upto <= prev:
                    errors.append("%s.upto_kwh: must be above the previous slab's (%s kWh)"
                                  % (what, dec(prev, 1000)))
                elif upto is not None:
                    prev = upto
            elif not last:
                errors.append("%s: upto_kwh is required (only the last slab is open-ended)" % what)
            self.slabs.append((upto, rate))

    def _fixed(self, f, what, errors):
        if not isinstance(f, dict):
            errors.append("%s: must be an object {\"name\", \"per_month\" or \"per_kw\"}" % what)
            return None
        known(f, what, ("name", "per_month", "per_kw"), errors)
        name = text_field(f, "name", None, errors, what)
        if ("per_month" in f) == ("per_kw" in f):
            errors.append("%s: give exactly one of per_month (minor units a month) and per_kw "
                          "(minor units per kW of sanctioned load a month)" % what)
            return None
        key = "per_month" if "per_month" in f else "per_kw"
        return (name or ("Fixed charge" if key == "per_month" else "Load charge"), key,
                _milli(f, key, what, errors))

    def _pct(self, s, what, default_on, errors):
        if not isinstance(s, dict):
            errors.append("%s: must be an object {\"name\", \"percent\", \"on\"}" % what)
            return None
        known(s, what, ("name", "percent", "on"), errors)
        name = text_field(s, "name", None, errors, what)
        if name is None and "name" not in s:
            errors.append("%s.name: required (it is the invoice line's text)" % what)
        pct = _milli(s, "percent", what, errors)
        if pct is not None and pct > _MAX_PCT:
            errors.append("%s.percent: above 100000" % what)
        kinds = KINDS if what.startswith("taxes") else ("energy", "standing", "fixed")
        on = s.get("on", list(default_on))
        if not isinstance(on, list) or not on or any(k not in kinds for k in on):
            errors.append("%s.on: must be a non-empty list of %s, got %r"
                          % (what, ", ".join(kinds), on))
            on = []
        return (name, pct, tuple(on))


def known(d, what, keys, errors):
    """One error for each key of `d` that is not in `keys`."""
    for k in d:
        if k not in keys:
            errors.append("%s: unknown key %r (known: %s)" % (what, k, ", ".join(keys)))


def text_field(d, key, default, errors, what="plan"):
    v = d.get(key, default)
    if v is not None and not isinstance(v, str):
        errors.append("%s.%s: must be a string" % (what, key))
        return default
    return v


def _list(doc, key, errors):
    v = doc.get(key, [])
    if not isinstance(v, list):
        errors.append("%s: must be a list" % key)
        return []
    return v


def _milli(d, key, what, errors):
    if key not in d:
        errors.append("%s.%s: required" % (what, key))
        return None
    try:
        v = parse_milli(d[key], "%s.%s" % (what, key))
    except ValueError as e:
        errors.append(str(e))
        return None
    if v > _MAX_MILLI:
        errors.append("%s.%s: too large" % (what, key))
        return None
    return v


# -- periods --------------------------------------------------------------------------------
def period_bounds(period, off_min):
    """"YYYY-MM" (a calendar month) or "YYYY-MM-DD..YYYY-MM-DD" (read date to read date,
    both days billed) -> (start, end, days): UTC epoch seconds of its first local midnight
    and of the local midnight after it, and its number of days."""
    r = _RANGE.match(period) if isinstance(period, str) else None
    if r:
        first, last = (service_dates.date_days(g) for g in r.groups())
        if first is None or last is None:
            raise BillError(400, "period %r: not real dates YYYY-MM-DD..YYYY-MM-DD" % period)
        start = first * DAY - off_min * 60
        days = last - first + 1
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise BillError(400, "period %r: must run forward, 1 to %d days (both dates "
                            "billed)" % (period, MAX_PERIOD_DAYS))
        return start, start + days * DAY, days
    m = _PERIOD.match(period or "") if isinstance(period, str) else None
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise BillError(400, "period must be a month YYYY-MM or read dates YYYY-MM-DD.."
                        "YYYY-MM-DD, got %r" % (period,))
    y, mo = int(m.group(1)), int(m.group(2))
    ny, nm = (y + 1, 1) if mo == 12 else (y, mo + 1)
    off = off_min * 60
    return (calendar.timegm((y, mo, 1, 0, 0, 0)) - off,
            calendar.timegm((ny, nm, 1, 0, 0, 0)) - off, calendar.monthrange(y, mo)[1])


def is_month(period):
    """Whether a period is a calendar month YYYY-MM (not read dates)."""
    return isinstance(period, str) and _PERIOD.match(period) is not None


def service(meter, start, end):
    """(lo, hi, stop, removal) of a period [start, end) (local midnights): the meter's days
    in service [lo, hi) (gateway/service_dates.py, the one rule), where its billed energy
    stops (the end of its removal day, else the period's), and its removal date when that
    falls in the period (the final bill). A bad date in the store is a 409 saying which; a
    period after the removal has no bill (409)."""
    try:
        lo, hi = service_dates.span(meter, start, end)
        until = service_dates.removed_at(meter)
    except ValueError as e:
        raise BillError(409, str(e))
    if until is None or until > end:
        return lo, hi, end, None
    if until <= start:
        raise BillError(409, "meter %s was removed on %s: it has no bill after that month's "
                        "final one" % (meter["id"], meter["disconnected"]))
    return lo, hi, until, meter["disconnected"]


def removed_before(meter, period):
    """Whether the meter was removed before the period began: a run leaves it out."""
    try:
        until = service_dates.removed_at(meter)
        return until is not None and until <= period_bounds(period, int(
            meter["utc_offset_min"]))[0]
    except (ValueError, BillError):   # a bad date or period: bill() says what is wrong
        return False


def billable_meters(store, period, group=None):
    """(ids of the group's meters (all when None) to bill for the period, [{"meter",
    "disconnected"}] of those removed before it): what the fleet runs bill."""
    meters, closed = [], []
    for m in store.meters():
        if group is None or m.get("group") == group:
            if removed_before(m, period):
                closed.append({"meter": m["id"], "disconnected": m["disconnected"]})
            else:
                meters.append(m["id"])
    return meters, closed


# -- the bill -------------------------------------------------------------------------------
def plan_for(store, meter, name=None):
    """The plan named, else the meter's billing_plan attribute, else the plan "default"."""
    name = name or meter.get("billing_plan") or "default"
    row = store.billing_plans(name)
    if not row:
        if name == "default" and not meter.get("billing_plan"):
            raise BillError(409, "meter %s has no billing plan: set its billing_plan attribute "
                            "or PUT /api/billing/plans/default" % meter["id"])
        raise BillError(404, "no billing plan %r" % name)
    return name, Plan(row[0]["plan"])


def bill(store, meter_id, period, plan_name=None, now=None, plan=None, carry_in=0):
    """The invoice of one meter for one month (a dict; docs/billing.md). `plan`: a (name,
    Plan) to bill with instead of a stored one (the prepaid statement's own tariff).
    carry_in: the last invoice's rounding remainder (a Fraction of major units), which a
    format-2 plan with rounding.carry adds before rounding the total."""
    meter = store.meter(meter_id)
    if meter is None:
        raise BillError(404, "no meter %r" % meter_id)
    off = int(meter["utc_offset_min"])
    start, end, days = period_bounds(period, off)
    lo_served, hi_served, stop, removal = service(meter, start, end)
    served = (hi_served - lo_served) // DAY
    pname, plan = plan or plan_for(store, meter, plan_name)
    if plan.v2 is None and not is_month(period):
        raise BillError(409, "plan %r is format 1, which bills calendar months (YYYY-MM): "
                        "bill read-to-read periods with a format-2 plan" % pname)
    db = store.reader()
    mid = db.execute("SELECT mid FROM meters WHERE id=?", (meter_id,)).fetchone()[0]
    if removal is not None:
        removal = at_removal(db, mid, removal, stop)
    # A slot belongs to the month its start is in (slot s holds intervals ending in
    # (s*1800, (s+1)*1800]); with whole-half-hour offsets that is exactly the local month.
    # A removed meter's energy stops at the end of its removal day (later records stay
    # stored, unbilled).
    lo, hi = -(-start // SLOT), -(-stop // SLOT)
    buckets = db.execute(
        "SELECT coalesce(bucket, ''), sum(wh), sum(cost_um) FROM agg30 WHERE mid=? AND slot>=?"
        " AND slot<? GROUP BY 1 ORDER BY 1", (mid, lo, hi)).fetchall()
    wh = sum(b[1] for b in buckets)
    lines = []

    def line(kind, text, exact, den, **extra):
        d = {"kind": kind, "text": text, "amount": half_up(exact, den), "exact": dec(exact, den)}
        d.update(extra)
        lines.append(d)

    def fixed(text, exact, den, **extra):
        """A whole-month charge, billed as exact x served/days rounded once (`exact` stays
        the whole-month charge; `prorated` says by what, for part of the month)."""
        if served != days:
            text += ", %d/%d days" % (served, days)
            extra["prorated"] = {"days": served, "of": days}
        line("fixed", text, exact, den, **extra)
        lines[-1]["amount"] = half_up(exact * served, den * days)

    if plan.v2 is not None:
        from gateway import billcalc, billmonth
        peak = billmonth.max_demand(db, meter_id, mid, plan.v2, start, stop)
        # the local days in service, first..last (days since 1970; none when last < first)
        first, last = (lo_served + off * 60) // DAY, (hi_served + off * 60) // DAY - 1
        lines[:], total, v2 = billmonth.lines(plan.v2, meter, first, last, wh,
                                              peak and peak["kw"], carry_in)
        out = _invoice(meter_id, meter, period, start, end, stop, off, days, served, pname,
                       plan, now, wh, lines, total,
                       reconcile(db, mid, start, stop, total, total, wh), removal)
        out["decimals"] = plan.v2.decimals     # total is in 10^-decimals units
        if plan.v2.carry:      # nothing billed (not in service): the remainder waits
            out["carry_in"] = billcalc.decimal_text(carry_in) if v2 is None else v2["carry_in"]
            out["carry_out"] = out["carry_in"] if v2 is None else v2["carry_out"]
        if peak:
            out["max_demand"] = {"kw": billcalc.decimal_text(peak["kw"]),
                                 "window_min": peak["window_min"], "source": peak["source"]}
        return out
    if plan.energy == "tou":
        tname = meter.get("tariff")
        if not tname:
            raise BillError(409, "plan %r charges the meter's time-of-use tariff, but meter %s "
                            "has no tariff" % (pname, meter_id))
        for b, bwh, cost_um in buckets:
            if bwh or cost_um:
                line("energy", "Energy %s" % (b or "unpriced"), cost_um, 10**6, wh=bwh,
                     bucket=b, rate=None if not bwh or cost_um % bwh else dec(cost_um // bwh, 1000))
        t = store.rollup.pricing.tariff(tname)
        if t is not None and t.standing_milli and served:
            line("standing", "Standing charge %d days x %s" % (served, dec(t.standing_milli, 1000)),
                 served * t.standing_milli, 1000, days=served)
    else:
        done = 0
        for i, (upto, rate) in enumerate(plan.slabs):
            top = wh if upto is None else min(wh, upto)
            part = max(0, top - done)
            lo_kwh = dec(done if i == 0 else plan.slabs[i - 1][0], 1000)
            rng = ("%s-%s kWh" % (lo_kwh, dec(upto, 1000)) if upto is not None
                   else "above %s kWh" % lo_kwh)
            line("energy", "Energy slab %d (%s)" % (i + 1, rng), part * rate, 10**6, wh=part,
                 slab=i + 1, rate=dec(rate, 1000))
            done = max(done, top)
    for name, key, milli in plan.fixed:
        if key == "per_month":
            fixed(name, milli, 1000)
        else:
            load_w = meter.get("sanctioned_load_w")
            if isinstance(load_w, bool) or not isinstance(load_w, int) or load_w < 0:
                raise BillError(409, "plan %r charges per kW of sanctioned load, but meter %s has "
                                "no sanctioned_load_w attribute (integer W)" % (pname, meter_id))
            fixed("%s %s kW x %s" % (name, dec(load_w, 1000), dec(milli, 1000)),
                  milli * load_w, 10**6, sanctioned_load_w=load_w)
    for kind, items in (("surcharge", plan.surcharges), ("tax", plan.taxes)):
        for name, pct, on in items:
            base = sum(x["amount"] for x in lines if x["kind"] in on)
            line(kind, "%s %s%% of %s" % (name, dec(pct, 1000), "+".join(on)), base * pct,
                 100000, base=base, percent=dec(pct, 1000))
    total = sum(x["amount"] for x in lines)
    return _invoice(meter_id, meter, period, start, end, stop, off, days, served, pname, plan,
                    now, wh, lines, total, reconcile(db, mid, start, stop, sum(
                        x["amount"] for x in lines if x["kind"] in ("energy", "standing")),
                        total, wh), removal)


def _invoice(meter_id, meter, period, start, end, stop, off, days, served, pname, plan, now,
             wh, lines, total, prepaid, removal):
    """The bill's fields; `final` once the days it bills are over (a removed meter's at the
    end of its removal day). A final bill (removal) says so and shows the credit left."""
    now = int(time.time()) if now is None else now
    out = {"meter": meter_id, "name": meter.get("name"), "period": period, "from": start,
           "to": end, "utc_offset_min": off, "days": days, "service_days": served,
           "plan": pname, "plan_name": plan.name, "currency": plan.currency,
           "final": now >= stop, "energy_wh": wh, "lines": lines, "total": total,
           "prepaid": prepaid}
    if removal is not None:
        out["removal"] = removal
    return out


def reconcile(db, mid, start, end, billed_meter, total, wh):
    """What the meter debited (its credit in the records at start and end, plus the top-ups
    it accepted in between) against what the bill computes."""
    cols = "seq, t, wh, credit"
    opening = last_record(db, mid, start)
    if opening is None:   # no record at or before the start: the first of the period
        opening = db.execute("SELECT %s FROM raw WHERE mid=? AND t>? AND t<=? ORDER BY t, seq"
                             " LIMIT 1" % cols, (mid, start, end)).fetchone()
    closing = db.execute("SELECT %s FROM raw WHERE mid=? AND t>? AND t<=? ORDER BY t DESC,"
                         " seq DESC LIMIT 1" % cols, (mid, start, end)).fetchone()
    # A top-up belongs to the period in which the meter applied it: when the gateway got the
    # meter's acceptance (its outbox row's end), else when it was vended. (By vending time, a
    # token sold before midnight at a month's end and applied after it was drift in both
    # months.) `t` stays the vending time.
    tx = []
    for r in db.execute(
            "SELECT tr.id, tr.t, tr.kind, tr.amount, tr.ref, tr.status, o.done FROM transactions tr"
            " LEFT JOIN outbox o ON o.tx=tr.id AND o.kind='token' AND o.status='accepted'"
            " WHERE tr.mid=? AND coalesce(o.done, tr.t)>=? AND coalesce(o.done, tr.t)<?"
            " ORDER BY coalesce(o.done, tr.t), tr.id", (mid, start, end)):
        x = dict(zip(("id", "t", "kind", "amount", "ref", "status"), r[:6]))
        if r[6] is not None:
            x["applied"] = int(r[6])
        tx.append(x)
    accepted = sum(x["amount"] for x in tx if x["kind"] == "topup" and x["status"] == "accepted")
    out = {"topups": tx, "topups_accepted": accepted,
           "topups_pending": sum(x["amount"] for x in tx if x["kind"] == "topup"
                                 and x["status"] in ("vended", "queued", "sent")),
           "billed_meter": billed_meter, "billed_total": total}
    if opening is None or closing is None or closing[0] <= opening[0]:
        out.update(records=False, opening=None, closing=None, debited=None,
                   difference_meter=None, difference_total=None, metered_wh=None)
        return out
    debited = opening[3] + accepted - closing[3]
    out.update(records=True,
               opening={"seq": opening[0], "t": opening[1], "wh": opening[2], "credit": opening[3]},
               closing={"seq": closing[0], "t": closing[1], "wh": closing[2], "credit": closing[3]},
               debited=debited, metered_wh=closing[2] - opening[2],
               difference_meter=billed_meter - debited, difference_total=total - debited)
    return out


def last_record(db, mid, t):
    """(seq, t, wh, credit) of the meter's last interval record ending at or before t."""
    return db.execute("SELECT seq, t, wh, credit FROM raw WHERE mid=? AND t<=? ORDER BY"
                      " t DESC, seq DESC LIMIT 1", (mid, t)).fetchone()


def at_removal(db, mid, date, stop):
    """A final bill's account of the meter at its removal: its last interval record up to
    the end of the removal day (the final reading) and the credit left on it, shown as a
    refund due when positive or a debt owed when negative (minor units, as the meter counts
    its credit; not added to the bill's total). Unknown (null) without such a record
    (never synced, or pruned after the retention period)."""
    r = last_record(db, mid, stop)
    credit = None if r is None else r[3]
    return {"date": date,
            "reading": None if r is None else dict(zip(("seq", "t", "wh", "credit"), r)),
            "credit": credit, "refund_due": None if r is None else max(credit, 0),
            "debt_owed": None if r is None else max(-credit, 0)}


# -- plain text -----------------------------------------------------------------------------
def removal_rows(r):
    """A final bill's rows about the removal, as every rendering prints them (text, PDF,
    CSV; invoice and statement): (kind, label, note, amount in the meter's minor units or
    None)."""
    out = [("final", "Final bill", "the meter was removed on %s; the account is closed"
            % r["date"], None)]
    x = r["reading"]
    if x is None:
        return out + [("final_reading", "Final reading", "unknown: no interval record up to "
                       "the removal, so the credit left is unknown too", None)]
    owed = r["debt_owed"] > 0
    return out + [
        ("final_reading", "Final reading", "%s kWh (seq %d)" % (dec(x["wh"], 1000), x["seq"]),
         None),
        ("credit_left", "Credit left", "", r["credit"]),     # short: a PDF fact's label
        ("debt_owed", "Debt owed", "", r["debt_owed"]) if owed else
        ("refund_due", "Refund due", "", r["refund_due"])]


def money(minor, digits=2):
    """Minor units -> "1,234.56" (an integer formatted, never a float)."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10 ** digits)
    return "%s%s%s" % (sign, "{:,}".format(whole),
                       "." + str(frac).rjust(digits, "0") if digits else "")


def text(b):
    """The invoice as plain text a person can read (amounts in major.minor units)."""
    cur = b["currency"] or ""
    w = 64
    ts = lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t + b["utc_offset_min"] * 60))
    out = ["%sINVOICE  %s  %s" % ("FINAL " if "removal" in b else "", b["meter"], b["period"])
           + ("" if b["final"] else "  (provisional)"),
           "Meter:   %s%s" % (b["meter"], " (%s)" % b["name"] if b["name"] else ""),
           "Period:  %s to %s local time (UTC%+d min), %d days%s"
           % (ts(b["from"]), ts(b["to"]), b["utc_offset_min"], b["days"],
              "" if b["service_days"] == b["days"] else ", %d in service" % b["service_days"]),
           "Plan:    %s%s" % (b["plan"], " - %s" % b["plan_name"] if b["plan_name"] else ""),
           "Energy:  %s kWh" % dec(b["energy_wh"], 1000), "-" * w]
    for x in b["lines"]:
        t = x.get("text", x.get("name"))
        if x.get("wh") is not None and x["kind"] == "energy":
            t += ", %s kWh" % dec(x["wh"], 1000)
        # a format-2 line's amount is already a decimal string of major units
        amount = x["amount"] if isinstance(x["amount"], str) else money(x["amount"])
        out.append("%-48s %15s" % (t[:48], amount))
    out += ["-" * w, "%-48s %15s" % ("TOTAL" + (" " + cur if cur else ""),
                                     money(b["total"], b.get("decimals", 2))), ""]
    if "removal" in b:
        out += ["%s: %s" % (label, note) if v is None else "%-48s %15s" % (label, money(v))
                for _, label, note, v in removal_rows(b["removal"])] + [""]
    p = b["prepaid"]
    out.append("Prepaid reconciliation")
    for x in p["topups"]:
        out.append("%-48s %15s" % ("  top-up #%d %s %s" % (x["id"], ts(x["t"]), x["status"]),
                                   money(x["amount"])))
    if not p["topups"]:
        out.append("  no top-ups in the period")
    if p["records"]:
        o, c = p["opening"], p["closing"]
        row = lambda label, v: "%-48s %15s" % ("  " + label, money(v))
        out += [row("credit at %s (seq %d)" % (ts(o["t"]), o["seq"]), o["credit"]),
                row("+ top-ups accepted", p["topups_accepted"]),
                row("- credit at %s (seq %d)" % (ts(c["t"]), c["seq"]), c["credit"]),
                row("= debited by the meter", p["debited"]),
                row("energy + standing billed", p["billed_meter"]),
                row("difference (billed - debited)", p["difference_meter"]),
                row("total billed - debited", p["difference_total"])]
    else:
        out.append("  no interval records in the period: nothing to reconcile")
    return "\n".join(out) + "\n"
