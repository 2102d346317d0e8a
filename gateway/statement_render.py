"""A prepaid statement (gateway/statements.py) as a PDF and as CSV, laid out with the
invoice renderer's pieces (gateway/invoice_render.py): the utility at the top, the meter and
month, the top-ups, the debits by time-of-use bucket and the standing charge, then the
reconciliation; a removed meter's final statement says so and shows the credit left as a
refund due or a debt owed (gateway/billing.py removal_rows). Amounts are the statement's
integers (minor units) formatted, never recomputed; the currency is taken to have 2 minor
digits, as the meter's credit does (invoice_render.CREDIT_DECIMALS)."""
import csv
import io
from decimal import Decimal

from gateway import invoices
from gateway.billing import dec, money
from gateway.invoice_render import CREDIT_DECIMALS as DECIMALS
from gateway.invoice_render import (Document, amount_text, facts_table, heading, latin1_only,
                                    lines_table, local_date, removal_facts, removal_texts,
                                    total_rows)


def rows(st):
    """(section, description, kwh, rate, amount minor units or None) of the statement, in
    the order both renderings print them. A final one's removal rows follow them in the CSV
    (removal_texts) and are facts in the PDF."""
    off = st["utc_offset_min"]
    out = [("topup", "Top-up #%d %s %s%s" % (x["id"], local_date(x["t"], off), x["status"],
                                             " (%s)" % x["ref"] if x.get("ref") else ""),
            "", "", x["amount"]) for x in st["topups"]]
    out += [("debit", "Energy %s" % (x["bucket"] or "unpriced"), dec(x["wh"], 1000),
             _major(x["rate"]), x["amount"]) for x in st["debits"]]
    s = st["standing"]
    if s:
        out.append(("standing", "Standing charge %d days x %s" % (s["days"], s["per_day"]),
                    "", "", s["amount"]))
    r = st["reconciliation"]
    out += [("charged", "Charged by the tariff", "", "", st["charged"]),
            ("topups_accepted", "Top-ups the meter accepted", "", "", st["topups_accepted"])]
    if r["records"]:
        o, c = r["opening"], r["closing"]
        out += [("opening_credit", "Credit at %s (seq %d)" % (local_date(o["t"], off), o["seq"]),
                 "", "", o["credit"]),
                ("closing_credit", "Credit at %s (seq %d)" % (local_date(c["t"], off), c["seq"]),
                 "", "", c["credit"]),
                ("debited", "Debited by the meter", dec(r["metered_wh"], 1000), "",
                 r["debited"]),
                ("drift", "Drift (charged - debited), tolerance %s" % money(
                    r["tolerance"], DECIMALS), "", "", r["drift"])]
    else:
        out.append(("drift", "No interval records in the month: nothing to reconcile", "", "",
                    None))
    return out


def _major(rate):
    """A rate in minor units per kWh ("9.5") in major units, exactly ("0.095"); "" if none."""
    return format(Decimal(rate).scaleb(-DECIMALS).normalize(), "f") if rate else ""


def csv_text(st):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["meter", "period", "section", "description", "kwh", "rate", "amount",
                "currency"])
    for section, text, kwh, rate, amount in rows(st) + [
            (kind, text, "", "", v) for kind, text, v in removal_texts(st)]:
        w.writerow([st["meter"], st["period"], section, text, kwh, rate,
                    "" if amount is None else amount_text(amount, DECIMALS), st["currency"]])
    return out.getvalue()


def pdf_bytes(st, utility=None):
    """The statement as a PDF (bytes); utility: {"name", "address"}, by default the invoice
    settings'."""
    if utility is None:
        utility = {"name": "", "address": ""}
    title = ("FINAL " if st.get("removal") else "") + "PREPAID STATEMENT"
    doc = Document("%s %s %s" % (title, st["meter"], st["period"]),
                   not latin1_only(st) or not latin1_only(utility))
    doc.set_title(doc.text_of("%s %s %s" % (title, st["meter"], st["period"])))
    doc.add_page()
    r = st["reconciliation"]
    status = "provisional" if not st["final"] else "no records" if r["drift"] is None else \
        "reconciled" if r["within_tolerance"] else "DRIFT beyond tolerance"
    heading(doc, utility, title, (("Meter", st["meter"]), ("Month", st["period"]),
                                  ("Status", status)))
    off = st["utc_offset_min"]
    facts_table(doc, [
        ("Customer", st.get("name") or "-"), ("Meter", st["meter"]),
        ("Period", "%s (%s to %s local, %d days%s)" % (
            st["period"], local_date(st["from"], off), local_date(st["to"] - 1, off),
            st["days"], "" if st["service_days"] == st["days"]
            else ", %d in service" % st["service_days"])),
        ("Tariff", st["tariff"]), ("Energy", "%s kWh" % dec(st["energy_wh"], 1000))]
        + removal_facts(st))
    cur = st["currency"]
    body = [(section, text, kwh, rate, amount) for section, text, kwh, rate, amount in rows(st)
            if section in ("topup", "debit", "standing")]
    lines_table(doc, (8, 94, 26, 24, 28), ("#", "Description", "kWh", "Rate",
                                           "Amount %s" % cur),
                [(str(n), text, kwh, rate, money(amount, DECIMALS))
                 for n, (_, text, kwh, rate, amount) in enumerate(body, 1)])
    total_rows(doc, [(text + (" (%s)" % cur if cur else ""),      # the removal: in the facts
                      "" if amount is None else money(amount, DECIMALS),
                      section in ("charged", "drift"))
                     for section, text, kwh, rate, amount in rows(st)
                     if section not in ("topup", "debit", "standing")])
    return bytes(doc.output())


def utility(store):
    """The utility's name and address from the invoice settings."""
    s = invoices.settings(store)
    return {"name": s["utility_name"], "address": s["utility_address"]}
