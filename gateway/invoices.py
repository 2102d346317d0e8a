"""Invoices a utility can send (docs/billing.md, "Invoices"): persisted, numbered, paid.

A draft is a snapshot of the month's bill (gateway/billing.bill, the same entry the bill API
uses) plus the meter's arrears and a late-payment charge. Issuing it gives it the next
number of its series inside the same IMMEDIATE transaction, so concurrent issues neither skip
nor repeat a number; from then on its lines are only read, never recomputed. A correction is
a credit note: its own number in the credit-note series, the original's lines negated.

Money is integers in units of 10^-decimals (minor units: 2 for a format-1 plan, the plan's
`decimals` for format 2). The state stored is draft, issued or void; paid, partly_paid and
overdue are derived from the payments and the due date, so they never disagree with them.
"""
import datetime
import json
import re
import time
from fractions import Fraction

from gateway import billing, service_dates
from gateway.billcalc import decimal_text, round_half_up

# name: (default, check, help) -- the one place invoice settings are documented
SETTINGS = {
    "utility_name": ("", "text", "the utility's name printed at the top of every invoice"),
    "utility_address": ("", "text", "its address, lines separated by newlines"),
    "invoice_series": ("INV", "series", "prefix of invoice numbers (INV-000001)"),
    "credit_series": ("CN", "series", "prefix of credit-note numbers"),
    "due_days": ("15", "days", "days from issue to the due date"),
    "late_fee_percent": ("0", "percent", "% of overdue arrears charged on the next invoice"),
}
# each kind of setting as a JSON schema: the API's description and _check() use the same one
KINDS = {"text": {"type": "string", "maxLength": 500},
         "series": {"type": "string", "pattern": "^[A-Z][A-Z0-9]{0,7}$"},
         "days": {"type": "string",   # 0-365
                  "pattern": "^([0-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-5])$"},
         "percent": {"type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,3})?$"}}
_WHY = {"text": "at most 500 characters",
        "series": "must be 1-8 of A-Z0-9, starting with a letter",
        "days": "must be a whole number 0-365",
        "percent": "must be a percentage like \"1.5\" (at most 3 decimals)"}
_NUMBER = re.compile(r"([A-Z][A-Z0-9]{0,7})-([0-9]{6,12})\Z")
_DRAFT = re.compile(r"draft-([0-9]{1,12})\Z")
TEXT_MAX = 200


class InvoiceError(Exception):
    """status: 400 bad input, 404 no such invoice, 409 not allowed in its state."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# -- settings -------------------------------------------------------------------------------
def settings(store):
    stored = dict(store.reader().execute("SELECT name, value FROM invoice_settings"))
    return {k: stored.get(k, d) for k, (d, _, _) in SETTINGS.items()}


def put_settings(store, doc):
    """Validate and store some settings (the others keep their values); returns them all."""
    if not isinstance(doc, dict):
        raise InvoiceError(400, "settings must be a JSON object")
    for k, v in doc.items():
        if k not in SETTINGS:
            raise InvoiceError(400, "unknown setting %r (known: %s)" % (k, ", ".join(SETTINGS)))
        why = _check(SETTINGS[k][1], v)
        if why:
            raise InvoiceError(400, "setting %r: %s, got %r" % (k, why, v))
    with store.write() as cur:
        cur.executemany("INSERT INTO invoice_settings VALUES(?, ?) ON CONFLICT(name) DO UPDATE"
                        " SET value=excluded.value", sorted(doc.items()))
    return settings(store)


def _check(kind, v):
    schema = KINDS[kind]
    if not isinstance(v, str):
        return "must be a string"
    pattern = schema.get("pattern")
    if len(v) > schema.get("maxLength", len(v)) or pattern and not re.fullmatch(pattern, v):
        return _WHY[kind]
    return None


# -- drafts ---------------------------------------------------------------------------------
def create_draft(store, meter_id, period, plan=None, now=None):
    """The draft invoice of a meter's month: made, or remade if a draft exists (409 once an
    invoice for that meter and period is issued)."""
    now = int(time.time()) if now is None else now
    bill = month_bill(store, meter_id, period, plan, now)
    with store.write() as cur:
        inv = save_draft(cur, bill, now)
    return get(store, "draft-%d" % inv, now=now)


def month_bill(store, meter_id, period, plan, now):
    """billing.bill, its errors as InvoiceError (read only: call it outside a write), with
    the rounding remainder the meter's last earlier invoice carried out (a plan with
    rounding.carry)."""
    last = store.reader().execute(
        "SELECT header FROM invoices WHERE meter=? AND period<? AND kind='invoice' AND"
        " state='issued' ORDER BY period DESC LIMIT 1", (meter_id, period)).fetchone()
    carry = json.loads(last[0]).get("carry_out") if last else None
    try:
        return billing.bill(store, meter_id, period, plan, now=now,
                            carry_in=Fraction(carry) if carry else 0)
    except billing.BillError as e:
        raise InvoiceError(e.status, str(e))
    except billing.PlanError as e:     # a stored plan that no longer validates
        raise InvoiceError(409, "billing plan does not validate: %s" % e)


def save_draft(cur, bill, now):
    """Store a bill as its meter's draft for the period, inside the caller's transaction;
    returns the invoice id."""
    meter_id, period = bill["meter"], bill["period"]
    decimals = bill.get("decimals", 2)
    lines = [_line(x, decimals) for x in bill["lines"]]
    total = bill["total"]
    rounding = total - sum(x["amount"] for x in lines)
    if rounding:     # a total rounded apart from its lines (format 2): shown, so they add up
        lines.append({"kind": "rounding", "text": "Rounding of the total" + (
            " (%s carried in, %s carried out)" % (bill["carry_in"], bill["carry_out"])
            if "carry_out" in bill else ""), "base": None, "rate": None, "quantity": None,
            "amount": rounding})
    live = cur.execute("SELECT id, state, number FROM invoices WHERE meter=? AND period=?"
                       " AND kind='invoice' AND state!='void'", (meter_id, period)).fetchone()
    if live and live[1] == "issued":
        raise InvoiceError(409, "meter %s is already invoiced for %s: %s (correct it with a "
                           "credit note)" % (meter_id, period, live[2]))
    _no_overlap(cur, meter_id, period)
    for extra in _carried(cur, meter_id, period, decimals, now):
        lines.append(extra)
        total += extra["amount"]
    tax = sum(x["amount"] for x in lines if x["kind"] == "tax")
    conf = {k: _setting(cur, k) for k in ("utility_name", "utility_address")}
    header = json.dumps(_header(bill, conf), sort_keys=True)
    if live:
        inv = live[0]
        cur.execute("DELETE FROM invoice_lines WHERE invoice=?", (inv,))
        cur.execute("UPDATE invoices SET currency=?, decimals=?, total=?, tax=?, created=?,"
                    " header=? WHERE id=?", (bill["currency"] or "", decimals, total, tax,
                                             now, header, inv))
    else:
        inv = cur.execute(
            "INSERT INTO invoices(kind, meter, period, state, currency, decimals, total, tax,"
            " created, header) VALUES('invoice', ?, ?, 'draft', ?, ?, ?, ?, ?, ?)",
            (meter_id, period, bill["currency"] or "", decimals, total, tax, now,
             header)).lastrowid
    _store_lines(cur, inv, lines)
    return inv


def _no_overlap(cur, meter_id, period):
    """A meter's live invoices cover distinct days: a read-to-read period (or a month) that
    overlaps another one of them is refused, so no day is billed twice."""
    start, end, _ = billing.period_bounds(period, 0)
    for other, number, inv in cur.execute(
            "SELECT period, number, id FROM invoices WHERE meter=? AND kind='invoice' AND"
            " state!='void' AND period!=?", (meter_id, period)).fetchall():
        s, e, _ = billing.period_bounds(other, 0)
        if s < end and start < e:
            raise InvoiceError(409, "meter %s: period %s overlaps %s of invoice %s (void it "
                               "first)" % (meter_id, period, other, number or "draft-%d" % inv))


def _line(x, decimals):
    """A bill line (format 1 or 2) as an invoice line: kind, text, base, rate, quantity and
    the rounded amount as an integer of 10^-decimals units."""
    if isinstance(x["amount"], str):           # format 2: amounts are decimal strings
        # format 2 has no tax type: a tax is a line in group "tax", or whose id says so
        tax = x.get("group") == "tax" or any(w in (x.get("id") or "").lower()
                                             for w in ("tax", "vat", "gst"))
        return {"kind": "tax" if tax else x.get("type") or "charge",
                "text": x["name"], "base": x.get("base"), "rate": x.get("rate"),
                "quantity": x.get("quantity"),
                "amount": int(Fraction(x["amount"]) * 10 ** decimals)}
    base = rate = qty = None
    if x.get("wh") is not None:     # a format-1 rate is minor units per kWh: print major
        qty = "%s kWh" % billing.dec(x["wh"], 1000)
        rate = x.get("rate") and "%s/kWh" % decimal_text(Fraction(x["rate"]) / 10 ** decimals)
    elif x.get("days") is not None:
        qty = "%d days" % x["days"]
    elif x.get("percent") is not None:
        base, rate = billing.money(x["base"]), "%s%%" % x["percent"]
    return {"kind": x["kind"], "text": x["text"], "base": base, "rate": rate, "quantity": qty,
            "amount": x["amount"]}


def _header(bill, conf):
    """What the invoice shows besides its lines, fixed when it is made."""
    p = bill["prepaid"]
    carry = {k: bill[k] for k in ("carry_in", "carry_out", "removal") if k in bill}
    return dict(carry, **{"customer": bill.get("name") or "", "plan": bill["plan"],
            "plan_name": bill["plan_name"], "from": bill["from"], "to": bill["to"],
            "utc_offset_min": bill["utc_offset_min"], "days": bill["days"],
            "service_days": bill["service_days"], "energy_wh": bill["energy_wh"],
            "reading_open_wh": p["opening"]["wh"] if p.get("records") else None,
            "reading_close_wh": p["closing"]["wh"] if p.get("records") else None,
            "utility": {"name": conf["utility_name"], "address": conf["utility_address"]}})


def _carried(cur, meter_id, period, decimals, now):
    """Arrears and late-payment lines for the next bill. The arrears are the meter's account:
    every earlier issued invoice's own charges (its total without what it carried) less the
    credit notes and payments against it, so paying any of them settles the same debt once."""
    rows = cur.execute(
        "SELECT i.id, i.number, i.total, i.due, i.decimals, coalesce((SELECT sum(amount) FROM"
        " invoice_lines WHERE invoice=i.id AND kind='arrears'), 0) FROM invoices i"
        " WHERE meter=? AND period<? AND kind='invoice' AND state='issued' ORDER BY period",
        (meter_id, period)).fetchall()
    owed, overdue = 0, False
    for inv, number, total, due, dec, carried in rows:
        balance = total - _credited(cur, inv) - _paid(cur, inv)
        if dec != decimals:      # plans of other precisions: the account cannot be added up
            raise InvoiceError(409, "invoice %s is in units of 10^-%d, this bill 10^-%d: "
                               "settle it first" % (number, dec, decimals))
        owed += balance - carried
        overdue = overdue or (balance > 0 and due < _day(now))
    if not owed:
        return []
    # negative: a credit note on a paid invoice left the customer in credit, carried the same way
    out = [{"kind": "arrears", "text": ("Arrears (unpaid before %s)" if owed > 0 else
                                        "Credit brought forward (before %s)") % period,
            "base": None, "rate": None, "quantity": None, "amount": owed}]
    pct = Fraction(_setting(cur, "late_fee_percent"))
    if overdue and pct and owed > 0:
        fee = int(round_half_up(owed * pct / 100, 0))
        out.append({"kind": "late_fee", "text": "Late-payment charge %s%% of arrears" % _setting(
            cur, "late_fee_percent"), "base": billing.money(owed, decimals), "rate": "%s%%" %
            _setting(cur, "late_fee_percent"), "quantity": None, "amount": fee})
    return out


def _setting(cur, name):
    row = cur.execute("SELECT value FROM invoice_settings WHERE name=?", (name,)).fetchone()
    return row[0] if row else SETTINGS[name][0]


def _store_lines(cur, inv, lines):
    cur.executemany("INSERT INTO invoice_lines VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(inv, n, x["kind"], x["text"], x["base"], x["rate"], x["quantity"],
                      x["amount"], x.get("credits")) for n, x in enumerate(lines, 1)])


# -- issue, pay, void, credit ---------------------------------------------------------------
def issue(store, ref, now=None):
    """A draft gets the next number of the invoice series and a due date; its lines freeze."""
    now = int(time.time()) if now is None else now
    with store.write() as cur:
        inv, state = _resolve(cur, ref)[:2]
        if state != "draft":
            raise InvoiceError(409, "invoice %s is %s: only a draft can be issued" % (ref, state))
        number = issue_draft(cur, inv, now)
    return get(store, number, now=now)


def issue_draft(cur, inv, now):
    """Issue draft `inv` inside the caller's transaction; returns its number."""
    series = _setting(cur, "invoice_series")
    number = _next_number(cur, series)
    header = json.loads(cur.execute("SELECT header FROM invoices WHERE id=?",
                                    (inv,)).fetchone()[0])
    header["utility"] = {"name": _setting(cur, "utility_name"),
                         "address": _setting(cur, "utility_address")}
    due = _day(now + 86400 * int(_setting(cur, "due_days")))
    cur.execute("UPDATE invoices SET state='issued', series=?, seq=?, number=?, issued=?,"
                " due=?, header=? WHERE id=?", (series, int(number.split("-")[1]), number,
                                                now, due, json.dumps(header, sort_keys=True),
                                                inv))
    return number


def _next_number(cur, series):
    """The next number of a series. Called inside the transaction that uses it: the counter
    and the invoice commit together or not at all, which is what makes the series gap-free."""
    last = cur.execute("INSERT INTO invoice_counters VALUES(?, 1) ON CONFLICT(series) DO UPDATE"
                       " SET last=invoice_counters.last+1 RETURNING last", (series,)).fetchone()[0]
    return "%s-%06d" % (series, last)


def pay(store, ref, amount, date, reference, now=None):
    """Record a payment (minor units) against an issued invoice; more than it owes is 409."""
    now = int(time.time()) if now is None else now
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvoiceError(400, "amount must be a positive integer of minor units, got %r"
                           % (amount,))
    if not isinstance(date, str) or service_dates.date_days(date) is None:
        raise InvoiceError(400, "date must be a date YYYY-MM-DD, got %r" % (date,))
    if not isinstance(reference, str) or not 0 < len(reference) <= TEXT_MAX:
        raise InvoiceError(400, "reference must be a non-empty string of at most %d "
                           "characters" % TEXT_MAX)
    with store.write() as cur:
        inv, state, kind, number = _resolve(cur, ref)
        if state != "issued" or kind != "invoice":
            raise InvoiceError(409, "payments are recorded against issued invoices; %s is %s"
                               % (ref, state if kind == "invoice" else "a credit note"))
        if cur.execute("SELECT 1 FROM payments WHERE invoice=? AND reference=?",
                       (inv, reference)).fetchone():
            raise InvoiceError(409, "payment %r is already recorded on %s" % (reference, number))
        owed = cur.execute("SELECT total FROM invoices WHERE id=?", (inv,)).fetchone()[0] \
            - _credited(cur, inv) - _paid(cur, inv)
        if amount > owed:
            raise InvoiceError(409, "%s owes %d, a payment of %d is more" % (number, owed, amount))
        cur.execute("INSERT INTO payments(invoice, amount, date, reference, created)"
                    " VALUES(?, ?, ?, ?, ?)", (inv, amount, date, reference, now))
    return get(store, number, now=now)


def void(store, ref, reason, now=None):
    """Void a draft, or an issued invoice nothing was paid or credited on (its number stays
    used, shown as void: the series keeps no gap)."""
    now = int(time.time()) if now is None else now
    _reason(reason)
    with store.write() as cur:
        inv, state, kind, number = _resolve(cur, ref)
        if state == "void":
            raise InvoiceError(409, "%s is already void" % ref)
        if kind == "credit_note":     # it changed what the customer owes: it stays
            raise InvoiceError(409, "%s is a credit note: it cannot be voided" % ref)
        if _paid(cur, inv) or _credited(cur, inv):
            raise InvoiceError(409, "%s has payments or credit notes: correct it with a credit "
                               "note instead" % ref)
        cur.execute("UPDATE invoices SET state='void', voided=?, void_reason=? WHERE id=?",
                    (now, reason, inv))
    return get(store, number or ref, now=now)


def credit_note(store, ref, reason, lines=None, now=None):
    """Issue a credit note reversing the given lines (numbers; default all) of an issued
    invoice. A line is credited at most once."""
    now = int(time.time()) if now is None else now
    _reason(reason)
    with store.write() as cur:
        inv, state, kind, number = _resolve(cur, ref)
        if state != "issued" or kind != "invoice":
            raise InvoiceError(409, "only an issued invoice can be credited; %s is %s"
                               % (ref, state if kind == "invoice" else "a credit note"))
        orig = cur.execute("SELECT n, kind, text, base, rate, quantity, amount FROM"
                           " invoice_lines WHERE invoice=? ORDER BY n", (inv,)).fetchall()
        done = {r[0] for r in cur.execute(
            "SELECT l.credits FROM invoice_lines l JOIN invoices c ON c.id=l.invoice"
            " WHERE c.original=? AND c.state='issued'", (inv,))}
        want = [r[0] for r in orig] if lines is None else lines
        if not isinstance(want, list) or not want or any(
                isinstance(n, bool) or not isinstance(n, int) for n in want):
            raise InvoiceError(400, "lines must be a non-empty list of line numbers")
        have = {r[0]: r for r in orig}
        for n in want:
            if n not in have:
                raise InvoiceError(400, "%s has no line %r" % (number, n))
            if n in done:
                raise InvoiceError(409, "line %d of %s is already credited" % (n, number))
        if len(set(want)) != len(want):
            raise InvoiceError(400, "a line is listed twice")
        new = [{"kind": have[n][1], "text": "Credit: %s (%s line %d)" % (have[n][2], number, n),
                "base": have[n][3], "rate": have[n][4], "quantity": have[n][5],
                "amount": -have[n][6], "credits": n} for n in sorted(want)]
        if sum(x["amount"] for x in new) >= 0:
            raise InvoiceError(409, "those lines add up to nothing to credit")
        row = cur.execute("SELECT meter, period, currency, decimals, header FROM invoices"
                          " WHERE id=?", (inv,)).fetchone()
        header = dict(json.loads(row[4]), reason=reason)
        series = _setting(cur, "credit_series")
        cn = _next_number(cur, series)
        cid = cur.execute(
            "INSERT INTO invoices(kind, series, seq, number, meter, period, state, currency,"
            " decimals, total, tax, created, issued, due, original, header) VALUES"
            " ('credit_note', ?, ?, ?, ?, ?, 'issued', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (series, int(cn.split("-")[1]), cn, row[0], row[1], row[2], row[3],
             sum(x["amount"] for x in new), sum(x["amount"] for x in new if x["kind"] == "tax"),
             now, now, _day(now), inv, json.dumps(header, sort_keys=True))).lastrowid
        _store_lines(cur, cid, new)
    return get(store, cn, now=now)


def _reason(reason):
    if not isinstance(reason, str) or not 0 < len(reason) <= TEXT_MAX:
        raise InvoiceError(400, "reason must be a non-empty string of at most %d characters"
                           % TEXT_MAX)


# -- reading ----------------------------------------------------------------------------------
def _resolve(cur, ref):
    """(id, state, kind, number) of an invoice by number (INV-000001) or draft-ID."""
    m = _DRAFT.match(ref) if isinstance(ref, str) else None
    if m:
        row = cur.execute("SELECT id, state, kind, number FROM invoices WHERE id=? AND"
                          " number IS NULL", (int(m.group(1)),)).fetchone()
    elif isinstance(ref, str) and _NUMBER.match(ref):
        row = cur.execute("SELECT id, state, kind, number FROM invoices WHERE number=?",
                          (ref,)).fetchone()
    else:
        raise InvoiceError(400, "an invoice is named by its number (INV-000001) or, as a "
                           "draft, draft-ID; got %r" % (ref,))
    if row is None:
        raise InvoiceError(404, "no invoice %r" % ref)
    return row


def _paid(cur, inv):
    return cur.execute("SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice=?",
                       (inv,)).fetchone()[0]


def _credited(cur, inv):
    """What issued credit notes took off an invoice (a positive number)."""
    return -cur.execute("SELECT coalesce(sum(total), 0) FROM invoices WHERE original=? AND"
                        " state='issued'", (inv,)).fetchone()[0]


def _day(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d")


_COLS = ("id", "kind", "number", "meter", "period", "state", "currency", "decimals", "total",
         "tax", "created", "issued", "due", "voided", "void_reason", "original", "header")


def get(store, ref, now=None):
    """One invoice as a dict: its lines, payments, credit notes and derived status."""
    cur = store.reader()
    inv = _resolve(cur, ref)[0]
    return _full(cur, cur.execute("SELECT %s FROM invoices WHERE id=?" % ", ".join(_COLS),
                                  (inv,)).fetchone(), now)


def listing(store, meter=None, period=None, status=None, now=None):
    """Invoices and credit notes, newest first, with their status (no lines)."""
    cur = store.reader()
    where, args = [], []
    for col, v in (("meter", meter), ("period", period)):
        if v is not None:
            where.append("%s=?" % col)
            args.append(v)
    rows = cur.execute("SELECT %s FROM invoices %s ORDER BY id DESC" % (
        ", ".join(_COLS), "WHERE " + " AND ".join(where) if where else ""), args).fetchall()
    out = [_full(cur, r, now, lines=False) for r in rows]
    return [x for x in out if status is None or x["status"] == status]


def _full(cur, row, now, lines=True):
    d = dict(zip(_COLS, row))
    d.update(json.loads(d.pop("header")))
    inv = d["id"]
    d["ref"] = d["number"] or "draft-%d" % inv
    d["paid"], d["credited"] = _paid(cur, inv), _credited(cur, inv)
    d["balance"] = d["total"] - d["paid"] - d["credited"] if d["state"] == "issued" else 0
    if d["original"] is not None:
        d["original"] = cur.execute("SELECT number FROM invoices WHERE id=?",
                                    (d["original"],)).fetchone()[0]
    d["status"] = _status(d, _day(int(time.time()) if now is None else now))
    if lines:
        d["lines"] = [dict(zip(("n", "kind", "text", "base", "rate", "quantity", "amount",
                                "credits"), r)) for r in cur.execute(
            "SELECT n, kind, text, base, rate, quantity, amount, credits FROM invoice_lines"
            " WHERE invoice=? ORDER BY n", (inv,))]
        d["payments"] = [dict(zip(("id", "amount", "date", "reference"), r)) for r in
                         cur.execute("SELECT id, amount, date, reference FROM payments WHERE"
                                     " invoice=? ORDER BY id", (inv,))]
        d["credit_notes"] = [r[0] for r in cur.execute(
            "SELECT number FROM invoices WHERE original=? ORDER BY id", (inv,))]
    return d


def _status(d, today):
    if d["state"] != "issued" or d["kind"] == "credit_note":
        return d["state"]
    if d["balance"] <= 0:
        return "paid"
    if d["due"] < today:
        return "overdue"
    return "partly_paid" if d["paid"] or d["credited"] else "issued"
