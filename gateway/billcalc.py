"""One bill from a format-2 plan (gateway/billplan.py), a period and given quantities.

The period runs from one read date to the next, both days included (11/22-12/21 is 30 days).
Charges "per month" are prorated by the calendar months the period touches: 11/22-12/21 is
9/30 of November + 21/31 of December. A period that spans a new tariff version is split
at its effective date: each part is billed by the version in force, with the volumes (kWh,
kVArh, ...) and the per-bill charges shared by days, the levels (kW, kVA) unchanged, and the
given amounts charged once, in the last part. History is never repriced: a version applies
only from its effective date on.

A plan with seasons is split the same way where the season changes, and each part bills
only the lines of its season (and those without one).

Money is exact (fractions.Fraction from decimal strings) and rounded half-up, away from zero
for a negative line, to the plan's decimals: on every line (the default; a percentage then
applies to the rounded lines it names, as printed) or only on the total, which may carry the
rounding remainder to the next bill.
"""
import calendar
from fractions import Fraction

from gateway.billplan import BUILTIN
from prepay.civil import civil_from_days


class QuantityError(ValueError):
    """Quantities that do not fit the plan or the period (a missing or negative one...)."""


def round_half_up(x, decimals):
    """Fraction -> Fraction with `decimals` digits, half-up (away from zero when negative)."""
    scale = 10 ** decimals
    n = abs(x) * scale
    r = Fraction((n.numerator * 2 + n.denominator) // (2 * n.denominator), scale)
    return -r if x < 0 else r


def decimal_text(x, decimals=None):
    """A Fraction as a decimal string: exact ("26.125"), or with `decimals` digits ("26.13").
    A value that no decimal writes exactly (9/30 of a month) is given as "n/d"."""
    if decimals is not None:
        n = round_half_up(x, decimals) * 10 ** decimals
        s = "%s%d" % ("-" if n < 0 else "", abs(n.numerator) // 10 ** decimals)
        return s + ("." + str(abs(n.numerator) % 10 ** decimals).rjust(decimals, "0")
                    if decimals else "")
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return "%d/%d" % (x.numerator, x.denominator)
    digits = 0
    while (x * 10 ** digits).denominator != 1:
        digits += 1
    return decimal_text(x, digits)


def month_pieces(first, last):
    """Days first..last (days since 1970, inclusive) -> [(days in that month, month length)]."""
    out, day = [], first
    while day <= last:
        y, m, d = civil_from_days(day)
        length = calendar.monthrange(y, m)[1]
        n = min(last, day + length - d) - day + 1
        out.append((n, length))
        day += n
    return out


def segments(plan, first, last):
    """[(version, season, first, last)] of the period, split where a new version takes
    effect and where the season changes (season None: the plan has no seasons)."""
    out = []
    vs = plan.versions
    for i, v in enumerate(vs):
        lo = first if v.start is None else max(first, v.start)
        nxt = vs[i + 1].start if i + 1 < len(vs) else None
        hi = last if nxt is None else min(last, nxt - 1)
        if lo <= hi:
            out.extend((v, season, a, b) for season, a, b in plan.seasons.runs(lo, hi))
    if not out or out[0][2] != first:
        y, m, d = civil_from_days(first)
        raise QuantityError("no tariff version is in force on %04d-%02d-%02d (the first "
                            "takes effect later)" % (y, m, d))
    return out


def quantities(plan, given, kwh, sanctioned_kw=None, max_demand_kw=None, sanctioned_kva=None):
    """The bill's quantities: --kwh, the loads, and the plan's declared ones, all required."""
    builtin = sorted(set(given) & set(BUILTIN))
    if builtin:
        raise QuantityError("quantity %s is built in: give --kwh, --sanctioned-kw, "
                            "--sanctioned-kva or --max-demand-kw (days and months come from "
                            "the period)"
                            % ", ".join(builtin))
    unknown = sorted(set(given) - set(plan.quantities))
    if unknown:
        raise QuantityError("the plan has no quantity %s (declared: %s)" % (
            ", ".join(unknown), ", ".join(sorted(set(plan.quantities) - set(BUILTIN))) or "none"))
    q = dict(given, kwh=kwh)
    if sanctioned_kw is not None:
        q["sanctioned_kw"] = sanctioned_kw
    if sanctioned_kva is not None:
        q["sanctioned_kva"] = sanctioned_kva
    if max_demand_kw is not None:
        q["max_demand_kw"] = max_demand_kw
        if sanctioned_kw is not None:    # the penalty needs both
            q["excess_demand_kw"] = max(Fraction(0), max_demand_kw - sanctioned_kw)
    for name, (of, factor) in plan.losses.items():
        if name not in q and of in q:    # loss-adjusted, unless the bill gives it
            q[name] = q[of] * factor
    for k, v in q.items():
        if v < 0 and plan.quantities[k] != "amount":
            raise QuantityError("quantity %s: must not be negative, got %s" % (k, decimal_text(v)))
    return q


def bill(plan, first, last, q, carry_in=Fraction(0)):
    """The itemized bill (a dict of strings and lists; docs/billing.md) for days first..last
    (days since 1970, inclusive) with quantities `q` (from quantities())."""
    if last < first:
        raise QuantityError("the period ends before it starts")
    days = last - first + 1
    parts = segments(plan, first, last)
    lines = []
    for n, (version, season, lo, hi) in enumerate(parts):
        seg = Segment(plan, version, season, lo, hi, days, q, last_part=n == len(parts) - 1)
        for line in seg.lines():
            if season is not None:
                line["season"] = season
            if len(parts) > 1:
                line["segment"] = {"from": iso(lo), "to": iso(hi), "days": hi - lo + 1}
                line["name"] += " (%s to %s)" % (iso(lo), iso(hi))
            lines.append(line)
    # what the total adds up: the rounded lines, or the exact ones (rounding.lines false)
    groups = {}
    for x in lines:
        if x["group"]:
            groups[x["group"]] = groups.get(x["group"], Fraction(0)) + x["_value"]
    exact = sum((x.pop("_value") for x in lines), Fraction(0))
    total = round_half_up(exact + carry_in, plan.total_decimals)
    out = {"plan": plan.name, "currency": plan.currency, "from": iso(first), "to": iso(last),
           "days": days,
           "months": decimal_text(sum(Fraction(a, b) for a, b in month_pieces(first, last))),
           "lines": lines, "groups": {g: decimal_text(v, plan.decimals) for g, v in groups.items()},
           "exact_total": decimal_text(exact), "total": decimal_text(total, plan.decimals)}
    if plan.carry:
        out["carry_in"] = decimal_text(carry_in)
        out["carry_out"] = decimal_text(exact + carry_in - total)
    return out


def iso(day):
    return "%04d-%02d-%02d" % civil_from_days(day)


class Segment:
    """The lines of one tariff version over part (or all) of the period."""

    def __init__(self, plan, version, season, lo, hi, period_days, q, last_part):
        self.plan, self.version, self.last_part = plan, version, last_part
        self.season = season
        self.days = hi - lo + 1
        self.share = Fraction(self.days, period_days)        # of the period's volumes
        self.pieces = month_pieces(lo, hi)
        self.months = sum(Fraction(a, b) for a, b in self.pieces)
        self.q = q
        self.done = []                                       # (line spec, output line)

    def value(self, name, what):
        if name == "days":
            return Fraction(self.days)
        if name == "months":
            return self.months
        if name not in self.q:
            option = {"sanctioned_kw": "--sanctioned-kw", "sanctioned_kva": "--sanctioned-kva",
                      "max_demand_kw": "--max-demand-kw",
                      "excess_demand_kw": "--max-demand-kw and --sanctioned-kw"}
            raise QuantityError("%s needs the quantity %s (%s)" % (
                what, name, option.get(name, "--quantity %s=VALUE" % name)))
        v = self.q[name]
        kind = self.plan.quantities[name]
        return v * self.share if kind == "volume" else v

    def factor(self, per):
        return {"bill": self.share, "day": Fraction(self.days), "month": self.months}[per]

    def per_text(self, per):
        return {"bill": "" if self.share == 1 else " x %s of the bill" % decimal_text(self.share),
                "day": " x %d days" % self.days,
                "month": " x %s months" % decimal_text(self.months)}[per]

    def lines(self):
        out = []
        for spec in self.version.lines:
            if spec.season is not None and spec.season != self.season:
                continue       # a seasonal component of another season
            for line in getattr(self, "_" + spec.type)(spec):
                value = line.pop("_value")
                rounded = round_half_up(value, self.plan.decimals)
                line = dict({"id": spec.id, "name": line.pop("name", spec.name),
                             "type": spec.type, "group": spec.group, "base": line.pop("base"),
                             "rate": line.pop("rate"), "quantity": line.pop("quantity"),
                             "exact": decimal_text(value),
                             "amount": decimal_text(rounded, self.plan.decimals)}, **line)
                # what later percentages, minimums and the total add up
                line["_value"] = rounded if self.plan.round_lines else value
                self.done.append((spec, line))
                out.append(line)
        return out

    def _line(self, base, rate, quantity, value, **extra):
        d = {"base": base, "rate": None if rate is None else decimal_text(rate),
             "quantity": None if quantity is None else decimal_text(quantity), "_value": value}
        d.update(extra)
        return d

    def _limit(self, spec, upto):
        """A block's limit over this part of the period, prorated as the plan says."""
        if spec.limits_per == "month":
            return sum((self._round_limit(spec, upto * a / b) for a, b in self.pieces),
                       Fraction(0))
        return self._round_limit(spec, upto * self.factor(spec.limits_per))

    def _round_limit(self, spec, x):
        return x if spec.limit_decimals is None else round_half_up(x, spec.limit_decimals)

    def _blocks(self, spec):
        q = self.value(spec.quantity, spec.what)
        limits = [None if upto is None else self._limit(spec, upto) for upto, _ in spec.blocks]
        out, lo = [], Fraction(0)
        for i, (upto, rate) in enumerate(spec.blocks):
            hi = limits[i]
            span = "%s-%s" % (decimal_text(lo), decimal_text(hi)) if hi is not None else \
                "above %s" % decimal_text(lo)
            name = "%s (block %d)" % (spec.name, i + 1)
            if spec.mode == "total":     # every unit at the block the total falls in
                if hi is None or q <= hi:
                    if spec.charge == "fixed":   # the block's amount, per bill/day/month
                        n = self.factor(spec.per)
                        base = "%s %s in %s%s" % (spec.quantity, decimal_text(q), span,
                                                  self.per_text(spec.per))
                    else:
                        n, base = q, "%s %s" % (spec.quantity, span)
                    return [self._line(base, rate, n, n * rate, block=i + 1, name=name)]
            else:
                part = max(Fraction(0), (q if hi is None else min(q, hi)) - lo)
                if part or (i == 0 and not q):
                    out.append(self._line("%s %s" % (spec.quantity, span), rate, part,
                                          part * rate, block=i + 1, name=name))
            lo = hi
        return out

    def _unit(self, spec):
        q = self.value(spec.quantity, spec.what)
        base = spec.quantity
        if spec.cap_per_day is not None:     # an allowance, e.g. a baseline of N kWh a day
            cap = spec.cap_per_day * self.days
            base += " up to %s (%s/day x %d days)" % (
                decimal_text(cap), decimal_text(spec.cap_per_day), self.days)
            q = min(q, cap)
        if spec.cap is not None:             # e.g. free units: the first N of the bill
            cap = spec.cap * self.share
            base += " up to %s" % decimal_text(cap)
            q = min(q, cap)
        # a volume is already this part's share; a level (kW, kVA) per bill is shared by days
        if spec.per == "bill" and self.plan.quantities[spec.quantity] == "volume":
            return [self._line(base, spec.rate, q, q * spec.rate)]
        qty = q * self.factor(spec.per)
        return [self._line(base + self.per_text(spec.per), spec.rate, qty, qty * spec.rate)]

    def _fixed(self, spec):
        f = self.factor(spec.per)
        return [self._line("per %s%s" % (spec.per, self.per_text(spec.per)), spec.amount, f,
                           spec.amount * f)]

    def _amount(self, spec):
        if not self.last_part:      # a given amount is charged once, in the last part
            return []
        v = spec.amount if spec.amount is not None else self.value(spec.quantity, spec.what)
        extra = {"prior_period": True} if spec.prior_period else {}
        return [self._line(spec.quantity or "given", None, None, v, **extra)]

    def _sum_of(self, spec):
        return sum((line["_value"] for s, line in self.done
                    if s.id in spec.of or (s.group and s.group in spec.of)), Fraction(0))

    def _percent(self, spec):
        base = self._sum_of(spec)
        return [self._line(decimal_text(base), spec.rate, None, base * spec.rate / 100,
                           of=list(spec.of))]

    def _minimum(self, spec):
        base = self._sum_of(spec)
        floor = spec.amount * self.factor(spec.per)
        return [self._line(decimal_text(base), None, None, max(Fraction(0), floor - base),
                           of=list(spec.of), minimum=decimal_text(floor))]
