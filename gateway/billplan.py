"""Tariff plans that real tariffs fit (plan format 2; docs/billing.md, "Tariff model").

A plan is an ordered list of charge lines, optionally in dated versions. Each line has an
`id` (what later lines name in `of`), a `name` (printed), an optional `group` (a subtotal
such as "delivery") and a `type`:
  blocks   slabs of a quantity (telescopic, or all units at the slab the total falls in),
           limits per bill, per day (a baseline of N kWh/day) or per calendar month (prorated);
  unit     a rate x a quantity (kWh, kVArh, kVA, kW of demand...), per bill, day or month;
  fixed    an amount per bill, day or month (prorated by the days of each calendar month);
  amount   a given amount (a credit, a reconciliation, a prior-period line), signed;
  percent  a percentage of an explicit list of earlier lines or groups (adders, taxes);
  minimum  tops the lines it names up to a minimum charge.
Lines are computed in the order given, and `of` may only name earlier lines, so the order of
surcharges and taxes, and whether one compounds on another, is written in the plan.

Numbers are exact: an integer or a decimal string ("0.064", "-0.09054"), or a JSON number
read as a Decimal (gateway.billcli loads plans with parse_float=Decimal). A Python float is
refused: money never passes through one. Values are held as fractions.Fraction.

The format-1 plans of gateway/billing.py (slabs in minor units, fixed, surcharges, taxes)
still load: `load()` migrates them explicitly (migrate_v1) into this form.
"""
from decimal import Decimal
from fractions import Fraction

from gateway import billing
from gateway.billseason import Seasons
from prepay.tariff_parse import parse_date

TYPES = ("blocks", "unit", "fixed", "amount", "percent", "minimum")
PER = ("bill", "day", "month")
KINDS = ("volume", "level", "amount")   # split by days across versions / not split / money
# Quantities every bill has: the energy (--kwh), the days and calendar months of the period,
# the sanctioned load (kW, or kVA where a tariff charges per kVA), the maximum demand, and
# the demand above the sanctioned load.
BUILTIN = {"kwh": "volume", "days": "level", "months": "level", "sanctioned_kw": "level",
           "sanctioned_kva": "level",
           "max_demand_kw": "level", "excess_demand_kw": "level"}
PLAN_KEYS = ("format", "name", "currency", "decimals", "rounding", "quantities", "seasons",
             "demand", "lines", "versions")
DEMAND_WINDOWS_MIN = (15, 30)
LINE_KEYS = {
    "blocks": ("quantity", "mode", "blocks", "limits_per", "limit_decimals", "charge", "per"),
    "unit": ("quantity", "rate", "per", "cap", "cap_per_day"),
    "fixed": ("amount", "per"),
    "amount": ("amount", "quantity", "prior_period"),
    "percent": ("rate", "of"),
    "minimum": ("amount", "per", "of"),
}
COMMON = ("id", "name", "group", "type", "season")


class PlanError(billing.PlanError):
    """A bad plan; .errors lists every problem."""


def number(v, what, errors, signed=True):
    """An exact number: int, Decimal or decimal string -> Fraction (None after an error)."""
    if isinstance(v, bool) or not isinstance(v, (int, str, Decimal)):
        errors.append("%s: use an integer or a decimal string like \"0.064\", not %s"
                      % (what, type(v).__name__))
        return None
    try:
        d = Decimal(v.strip()) if isinstance(v, str) else Decimal(v)
        if not d.is_finite():
            raise ValueError
    except (ArithmeticError, ValueError):
        errors.append("%s: %r is not a decimal number" % (what, v))
        return None
    if d and not -15 <= d.adjusted() <= 15:     # 1e999999 would be a huge exact integer
        errors.append("%s: %r is out of range (1e-15 to 1e15)" % (what, v))
        return None
    if d < 0 and not signed:
        errors.append("%s: must not be negative" % what)
        return None
    return Fraction(d)


class Line:
    """One charge line of a plan version, validated."""

    def __init__(self, doc, what, plan, seen, errors):
        self.what = what
        if not isinstance(doc, dict):
            errors.append("%s: must be an object with id, type, ..." % what)
            doc = {}
        self.type = doc.get("type")
        if self.type not in TYPES:
            errors.append("%s.type: must be one of %s, got %r" % (what, ", ".join(TYPES),
                                                                   self.type))
            self.type = None
        keys = COMMON + LINE_KEYS.get(self.type, ())
        billing.known(doc, what, keys, errors)
        self.id = doc.get("id")
        if not isinstance(self.id, str) or not self.id:
            errors.append("%s.id: required, a non-empty string (later lines name it in of)"
                          % what)
            self.id = None
        self.season = doc.get("season")
        if self.season is not None and self.season not in plan.seasons.names:
            errors.append("%s.season: %r is not one of the plan's seasons (%s)" % (
                what, self.season, ", ".join(plan.seasons.names) or "none declared"))
            self.season = None
        if self.id and (self.id in seen or self.id in plan.groups):
            # one charge with seasonal components: the same id again, each in its own season
            used = plan.id_seasons.get(self.id, {None})
            if self.id in plan.groups or self.season is None or None in used \
                    or self.season in used:
                errors.append("%s.id: %r is used twice (an id repeats only in different "
                              "seasons)" % (what, self.id))
        self.name = billing.text_field(doc, "name", self.id, errors, what)
        self.group = billing.text_field(doc, "group", None, errors, what)
        if self.group is not None and (self.group in seen or self.group == self.id):
            errors.append("%s.group: %r is also a line id" % (what, self.group))
        self.per = doc.get("per", "bill")
        if "per" in keys and self.per not in PER:
            errors.append("%s.per: must be one of %s, got %r" % (what, ", ".join(PER), self.per))
        self.quantity = self._quantity(doc, plan, errors)
        self.rate = self.amount = self.cap = self.cap_per_day = None
        self.of, self.blocks, self.prior_period = (), [], False
        if self.type in ("unit", "percent"):
            self.rate = self._num(doc, "rate", errors, required=True)
        if self.type in ("fixed", "minimum") or (self.type == "amount" and "quantity" not in doc):
            self.amount = self._num(doc, "amount", errors, required=True)
        if self.type == "amount":
            if "quantity" in doc and "amount" in doc:
                errors.append("%s: give amount or quantity (a given amount), not both" % what)
            elif "quantity" in doc and self.quantity and plan.kind(self.quantity) != "amount":
                errors.append("%s.quantity: %r must be declared an amount in quantities"
                              % (what, self.quantity))
            self.prior_period = doc.get("prior_period", False)
            if not isinstance(self.prior_period, bool):
                errors.append("%s.prior_period: must be true or false" % what)
        if self.type == "unit":
            self.cap = self._num(doc, "cap", errors, signed=False)
            self.cap_per_day = self._num(doc, "cap_per_day", errors, signed=False)
        if self.type in ("percent", "minimum"):
            self._of(doc, plan, seen, errors)
        if self.type == "blocks":
            self._blocks(doc, errors)
        if self.id and self.type:
            seen[self.id] = self
            plan.id_seasons.setdefault(self.id, set()).add(self.season)
        if self.group:
            plan.groups.add(self.group)

    def _num(self, doc, key, errors, required=False, signed=True):
        if key not in doc:
            if required:
                errors.append("%s.%s: required" % (self.what, key))
            return None
        return number(doc[key], "%s.%s" % (self.what, key), errors, signed)

    def _quantity(self, doc, plan, errors):
        if self.type not in ("blocks", "unit", "amount"):
            return None
        q = doc.get("quantity", "kwh" if self.type != "amount" else None)
        if q is None:
            return None
        if plan.kind(q) is None:
            errors.append("%s.quantity: %r is not a built-in quantity (%s) nor declared in "
                          "quantities" % (self.what, q, ", ".join(BUILTIN)))
            return None
        return q

    def _of(self, doc, plan, seen, errors):
        of = doc.get("of")
        bad = [x for x in of if x not in seen and x not in plan.groups] \
            if isinstance(of, list) and of and all(isinstance(x, str) for x in of) else None
        if bad is None:
            errors.append("%s.of: must be a non-empty list of earlier line ids or groups"
                          % self.what)
        elif bad:
            errors.append("%s.of: %s names no earlier line or group (lines are computed in "
                          "order)" % (self.what, ", ".join(repr(x) for x in bad)))
        else:
            self.of = tuple(of)

    def _blocks(self, doc, errors):
        what = self.what
        self.mode = doc.get("mode", "telescopic")
        if self.mode not in ("telescopic", "total"):
            errors.append("%s.mode: must be \"telescopic\" or \"total\" (all units at the rate "
                          "of the block the total falls in), got %r" % (what, self.mode))
        # "fixed": a fixed charge chosen by the slab of the total (each block's rate is an
        # amount per bill, day or month), as tariffs that set the fixed charge by usage do
        self.charge = doc.get("charge", "per_unit")
        if self.charge not in ("per_unit", "fixed"):
            errors.append("%s.charge: must be \"per_unit\" or \"fixed\", got %r"
                          % (what, self.charge))
        elif self.charge == "fixed" and self.mode != "total":
            errors.append("%s.charge: \"fixed\" needs mode \"total\" (one slab applies)" % what)
        elif self.charge == "per_unit" and "per" in doc:
            errors.append("%s.per: only for charge \"fixed\"" % what)
        self.limits_per = doc.get("limits_per", "bill")
        if self.limits_per not in PER:
            errors.append("%s.limits_per: must be one of %s, got %r"
                          % (what, ", ".join(PER), self.limits_per))
        self.limit_decimals = doc.get("limit_decimals")
        if self.limit_decimals is not None and (type(self.limit_decimals) is not int
                                                or not 0 <= self.limit_decimals <= 6):
            errors.append("%s.limit_decimals: must be an integer 0..6" % what)
        blocks = doc.get("blocks")
        if not isinstance(blocks, list) or not blocks:
            errors.append("%s.blocks: must be a non-empty list of {\"upto\", \"rate\"}" % what)
            return
        prev = Fraction(0)
        for i, b in enumerate(blocks):
            bw = "%s.blocks[%d]" % (what, i)
            if not isinstance(b, dict):
                errors.append("%s: must be an object {\"upto\", \"rate\"}" % bw)
                continue
            billing.known(b, bw, ("upto", "rate"), errors)
            rate = number(b.get("rate"), bw + ".rate", errors) if "rate" in b else None
            if "rate" not in b:
                errors.append("%s.rate: required" % bw)
            upto = None
            last = i == len(blocks) - 1
            if "upto" in b:
                upto = number(b["upto"], bw + ".upto", errors, signed=False)
                if last:
                    errors.append("%s: the last block has no upto (it takes the rest)" % bw)
                elif upto is not None and upto <= prev:
                    errors.append("%s.upto: must be above the previous block's" % bw)
                elif upto is not None:
                    prev = upto
            elif not last:
                errors.append("%s: upto is required (only the last block is open-ended)" % bw)
            self.blocks.append((upto, rate))


class Version:
    def __init__(self, start, lines):
        self.start, self.lines = start, lines     # start: days since 1970 (None: always)


class Plan:
    """A validated format-2 plan (raises PlanError listing every problem)."""

    def __init__(self, doc):
        errors = []
        if not isinstance(doc, dict):
            raise PlanError(["plan: must be a JSON object"])
        billing.known(doc, "plan", PLAN_KEYS, errors)
        if doc.get("format") != 2:
            errors.append("plan.format: must be 2 (format-1 plans are migrated by load())")
        self.name = billing.text_field(doc, "name", "", errors)
        self.currency = billing.text_field(doc, "currency", "", errors)
        self.decimals = doc.get("decimals", 2)
        if type(self.decimals) is not int or not 0 <= self.decimals <= 6:
            errors.append("plan.decimals: must be an integer 0..6 (the currency's minor digits)")
            self.decimals = 2
        self._rounding(doc.get("rounding", {}), errors)
        self.quantities = dict(BUILTIN)
        self.losses = {}                          # name -> (volume it derives from, factor)
        self._declare(doc.get("quantities", {}), errors)
        self.seasons = Seasons(doc.get("seasons"), errors)
        self.demand_window_min = self._demand(doc.get("demand", {}), errors)
        self.groups = set()
        if ("lines" in doc) == ("versions" in doc):
            errors.append("plan: give lines, or versions with effective dates, not both")
            raise PlanError(errors)
        vdocs = doc["versions"] if "versions" in doc else [{"lines": doc["lines"]}]
        if not isinstance(vdocs, list) or not vdocs:
            errors.append("plan.versions: must be a non-empty list of {\"effective\", \"lines\"}")
            raise PlanError(errors)
        self.versions = []
        for i, v in enumerate(vdocs):
            self.versions.append(self._version(v, "versions[%d]" % i if "versions" in doc
                                               else "plan", "versions" in doc, errors))
        if errors:
            raise PlanError(errors)

    def _demand(self, d, errors):
        """How a meter's maximum demand is measured: the window, 15 or 30 minutes."""
        if not isinstance(d, dict):
            errors.append("plan.demand: must be an object {\"window_min\": 15 or 30}")
            return 30
        billing.known(d, "demand", ("window_min",), errors)
        w = d.get("window_min", 30)
        if type(w) is not int or w not in DEMAND_WINDOWS_MIN:
            errors.append("demand.window_min: must be 15 or 30 (minutes), got %r" % (w,))
            return 30
        return w

    def uses(self, *names):
        """Whether a line of any version prices one of these quantities."""
        return any(x.quantity in names for v in self.versions for x in v.lines)

    def kind(self, q):
        return self.quantities.get(q) if isinstance(q, str) else None

    def _rounding(self, r, errors):
        self.round_lines, self.total_decimals, self.carry = True, self.decimals, False
        if not isinstance(r, dict):
            errors.append("plan.rounding: must be an object {\"lines\", \"total_decimals\", "
                          "\"carry\"}")
            return
        billing.known(r, "rounding", ("lines", "total_decimals", "carry"), errors)
        self.round_lines = r.get("lines", True)
        self.total_decimals = r.get("total_decimals", self.decimals)
        self.carry = r.get("carry", False)
        if not isinstance(self.round_lines, bool) or not isinstance(self.carry, bool):
            errors.append("rounding.lines and rounding.carry: must be true or false")
        if type(self.total_decimals) is not int or not 0 <= self.total_decimals <= self.decimals:
            errors.append("rounding.total_decimals: must be an integer 0..decimals (%d)"
                          % self.decimals)
            self.total_decimals = self.decimals

    def _declare(self, qs, errors):
        if not isinstance(qs, dict):
            errors.append("plan.quantities: must be an object {name: \"volume\" | \"level\" | "
                          "\"amount\" | {\"of\": \"kwh\", \"loss_factor\": F}}")
            return
        for name, kind in qs.items():
            what = "quantities.%s" % name
            if name in BUILTIN:
                errors.append("%s: is built in" % what)
            elif isinstance(kind, dict):     # loss-adjusted: derived from a volume if not given
                billing.known(kind, what, ("of", "loss_factor"), errors)
                f = number(kind.get("loss_factor"), what + ".loss_factor", errors, signed=False)
                if self.kind(kind.get("of")) != "volume":
                    errors.append("%s.of: must name a volume declared before it, like kwh"
                                  % what)
                elif f is not None:
                    self.losses[name] = (kind["of"], f)
                self.quantities[name] = "volume"
            elif kind not in KINDS:
                errors.append("%s: must be one of %s, got %r" % (what, ", ".join(KINDS), kind))
            else:
                self.quantities[name] = kind

    def _version(self, v, what, dated, errors):
        if not isinstance(v, dict):
            errors.append("%s: must be an object {\"effective\", \"lines\"}" % what)
            return Version(None, [])
        start = None
        if dated:
            billing.known(v, what, ("effective", "lines"), errors)
            try:
                start = parse_date(v.get("effective"), what + ".effective")
            except ValueError as e:
                errors.append(str(e))
            if start is not None and self.versions and self.versions[-1].start is not None \
                    and start <= self.versions[-1].start:
                errors.append("%s.effective: must be after the previous version's" % what)
        lines = v.get("lines")
        if not isinstance(lines, list) or not lines:
            errors.append("%s.lines: must be a non-empty list of charge lines" % what)
            return Version(start, [])
        self.groups = set()
        self.id_seasons = {}
        seen = {}
        out = [Line(x, "%s.lines[%d]" % (what, i) if dated else "lines[%d]" % i, self, seen,
                    errors) for i, x in enumerate(lines)]
        return Version(start, out)


def migrate_v1(doc):
    """A format-1 plan of gateway/billing.py (validated there) -> the same plan in format 2.

    Format 1 counts in minor units (paise, cents) and assumes 2 minor digits: its rates and
    amounts are divided by 100. Slabs become telescopic blocks per bill; fixed charges are per
    month (prorated by days for a period that is not one whole calendar month); each
    surcharge or tax becomes a percent line on the lines of the kinds it listed. A "tou" plan
    prices the meter's own tariff from its aggregates, so it has no format-2 form here."""
    old = billing.Plan(doc)
    if old.energy != "slabs":
        raise PlanError(["plan: a format-1 \"tou\" plan prices the meter's own tariff from its "
                         "aggregates; write a format-2 plan to bill it from given quantities"])
    major = lambda milli: str(Decimal(milli) / 100000)   # milli-minor -> major units
    blocks = [dict({"rate": major(rate)}, **({} if upto is None else {"upto": str(
        Decimal(upto) / 1000)})) for upto, rate in old.slabs]
    lines = [{"id": "energy", "name": "Energy", "type": "blocks", "blocks": blocks}]
    kinds = {"energy": ["energy"], "standing": [], "fixed": [], "surcharge": []}
    for i, (name, key, milli) in enumerate(old.fixed):
        lid = "fixed%d" % (i + 1)
        kinds["fixed"].append(lid)
        lines.append({"id": lid, "name": name, "type": "fixed", "amount": major(milli),
                      "per": "month"} if key == "per_month" else
                     {"id": lid, "name": name, "type": "unit", "quantity": "sanctioned_kw",
                      "rate": major(milli), "per": "month"})
    for kind, items in (("surcharge", old.surcharges), ("tax", old.taxes)):
        for i, (name, pct, on) in enumerate(items):
            lid = "%s%d" % (kind, i + 1)
            of = [x for k in on for x in kinds[k]]
            if of:   # a percentage of no line (standing: none without a tariff) is dropped
                lines.append({"id": lid, "name": name, "type": "percent",
                              "rate": str(Decimal(pct) / 1000), "of": of})
                kinds.setdefault(kind, []).append(lid)
    return {"format": 2, "name": old.name, "currency": old.currency, "decimals": 2,
            "lines": lines}


def load(doc):
    """A plan document of either format -> Plan (format 1 is migrated with migrate_v1)."""
    if isinstance(doc, dict) and "format" not in doc:
        try:
            doc = migrate_v1(doc)
        except billing.PlanError as e:
            raise PlanError(e.errors)
    return Plan(doc)
