"""An invoice (gateway/invoices.get) as a PDF a utility can send, and as CSV.

The PDF is laid out with fpdf2: the utility and the document's number, status and dates at
the top, the customer and meter, the period and its readings, then every line with its base,
rate, quantity and amount, and the totals. Amounts are the stored integers formatted, never
recomputed: what is printed is what was issued.
"""
import csv
import io
import os
import time
from fractions import Fraction

from fpdf import FPDF
from fpdf.fonts import FontFace

from gateway.billcalc import decimal_text
from gateway import billing
from gateway.billing import dec, money

# The PDF core font has Latin-1 only. An invoice with other characters (a customer's name in
# Devanagari, the rupee sign) embeds DejaVu where Debian installs it; the others keep the core
# font, because embedding costs about 10x the rendering time (8 against 79 PDFs/s here).
# Without DejaVu, other characters print as "?".
_FONT_DIR = "/usr/share/fonts/truetype/dejavu"
_FONT = os.path.join(_FONT_DIR, "DejaVuSans.ttf")
_FONT_BOLD = os.path.join(_FONT_DIR, "DejaVuSans-Bold.ttf")
TITLES = {"invoice": "INVOICE", "credit_note": "CREDIT NOTE"}
# the meter counts its credit in minor units of 2 digits, whatever the invoice's decimals
CREDIT_DECIMALS = 2


def amount_text(minor, decimals):
    """Plain decimal major units for CSV ("-1268.50"), from the stored integer."""
    return decimal_text(Fraction(minor, 10 ** decimals), decimals)


def csv_text(inv):
    """One row per line, then the tax, total, paid and balance rows, and a final invoice's
    rows about the meter's removal (its credit left in the meter's minor units)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["number", "meter", "period", "line", "kind", "description", "base", "rate",
                "quantity", "amount", "currency"])
    head = [inv["ref"], inv["meter"], inv["period"]]
    d, cur = inv["decimals"], inv["currency"]
    for x in inv["lines"]:
        w.writerow(head + [x["n"], x["kind"], x["text"], x["base"] or "", x["rate"] or "",
                           x["quantity"] or "", amount_text(x["amount"], d), cur])
    for kind, label, v in _totals(inv):
        w.writerow(head + ["", kind, label, "", "", "", amount_text(v, d), cur])
    for kind, text, v in removal_texts(inv):
        w.writerow(head + ["", kind, text, "", "", "",
                           "" if v is None else amount_text(v, CREDIT_DECIMALS), cur])
    return out.getvalue()


def removal_rows(doc):
    """A final invoice's or statement's rows about the meter's removal (none otherwise)."""
    return billing.removal_rows(doc["removal"]) if doc.get("removal") else []


def removal_texts(doc):
    """The same rows as (kind, "label: note", amount) for a CSV."""
    return [(kind, label + (": " + note if note else ""), v)
            for kind, label, note, v in removal_rows(doc)]


def removal_facts(doc):
    """The same rows as (label, value) facts for the PDF."""
    return [(label, note if v is None else money(v, CREDIT_DECIMALS))
            for _, label, note, v in removal_rows(doc)]


def _totals(inv):
    rows = [("tax", "Tax included", inv["tax"]), ("total", "Total", inv["total"])]
    if inv["kind"] == "invoice" and inv["state"] == "issued":
        rows += [("paid", "Paid", inv["paid"]), ("credited", "Credited", inv["credited"]),
                 ("balance", "Balance due", inv["balance"])]
    return rows


class Document(FPDF):
    """An A4 page with a footer; DejaVu when `unicode` is true and installed."""

    def __init__(self, footer_text, unicode):
        super().__init__(format="A4")
        self.footer_text = footer_text
        if unicode and os.path.exists(_FONT) and os.path.exists(_FONT_BOLD):
            self.add_font("body", "", _FONT)
            self.add_font("body", "B", _FONT_BOLD)
            self.family = "body"
        else:
            self.family = "helvetica"

    def text_of(self, s):
        """Text the font can print (the core font has only Latin-1)."""
        s = str(s)
        return s if self.family == "body" else s.encode("latin-1", "replace").decode("latin-1")

    def footer(self):
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.cell(0, 5, self.text_of("%s - page %d/{nb}" % (self.footer_text, self.page_no())),
                  align="C")


def pdf_bytes(inv):
    """The invoice or credit note as a PDF (bytes)."""
    title = ("FINAL " if inv.get("removal") and inv["kind"] == "invoice" else "") + \
        TITLES[inv["kind"]]
    ref = inv["number"] or "DRAFT (%s)" % inv["ref"]
    doc = Document("%s %s" % (title, ref), not latin1_only(inv))
    t = doc.text_of
    doc.set_title(t("%s %s" % (title, ref)))
    doc.add_page()
    heading(doc, inv.get("utility") or {}, title, (
        ("Number", ref), ("Status", inv["status"].replace("_", " ")),
        ("Issued", local_date(inv["issued"])), ("Due", inv["due"] or "-"),
        ("Original", inv.get("original"))))
    # customer, meter, period, readings
    off = inv["utc_offset_min"]
    facts = [("Customer", inv.get("customer") or "-"), ("Meter", inv["meter"]),
             ("Period", "%s (%s to %s local, %d days%s)" % (
                 inv["period"], local_date(inv["from"], off), local_date(inv["to"] - 1, off),
                 inv["days"],
                 "" if inv["service_days"] == inv["days"]
                 else ", %d in service" % inv["service_days"])),
             ("Plan", "%s%s" % (inv["plan"], " - %s" % inv["plan_name"]
                                if inv.get("plan_name") else "")),
             ("Readings", _readings(inv)), ("Energy", "%s kWh" % dec(inv["energy_wh"], 1000))]
    if inv.get("reason"):
        facts.append(("Reason", inv["reason"]))
    facts_table(doc, facts + removal_facts(inv))
    d, cur = inv["decimals"], inv["currency"]
    lines_table(doc, (8, 72, 28, 20, 24, 28),
                ("#", "Description", "Base", "Rate", "Quantity", "Amount %s" % cur),
                [(str(x["n"]), x["text"], x["base"] or "", x["rate"] or "",
                  x["quantity"] or "", money(x["amount"], d)) for x in inv["lines"]])
    total_rows(doc, [(label + (" (%s)" % cur if cur else ""), money(v, d),
                      kind in ("total", "balance")) for kind, label, v in _totals(inv)])
    if inv.get("payments"):
        doc.ln(3)
        doc.set_font(doc.family, "B", 9)
        doc.cell(0, 5, "Payments received", new_x="LMARGIN", new_y="NEXT")
        doc.set_font(doc.family, "", 9)
        for p in inv["payments"]:
            doc.cell(0, 4.5, t("%s  %s  %s" % (p["date"], p["reference"], money(p["amount"], d))),
                     new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def heading(doc, utility, title, rows):
    """The utility and its address on the left; the document's title and `rows` (label,
    value; empty values left out) on the right."""
    t, width = doc.text_of, doc.epw
    top = doc.get_y()
    doc.set_font(doc.family, "B", 14)
    doc.multi_cell(width / 2, 7, t(utility.get("name") or "Utility"), new_x="LMARGIN")
    doc.set_font(doc.family, "", 9)
    if utility.get("address"):
        doc.multi_cell(width / 2, 4.5, t(utility["address"]), new_x="LMARGIN")
    left_end = doc.get_y()
    doc.set_xy(doc.l_margin + width / 2, top)
    doc.set_font(doc.family, "B", 14)
    doc.cell(width / 2, 7, t(title), align="R", new_x="LEFT", new_y="NEXT")
    doc.set_font(doc.family, "", 9)
    for label, value in rows:
        if value:
            doc.cell(width / 2, 4.5, t("%s: %s" % (label, value)), align="R",
                     new_x="LEFT", new_y="NEXT")
    doc.set_y(max(left_end, doc.get_y()) + 4)


def facts_table(doc, facts):
    """(label, value) rows without borders, the labels bold."""
    t = doc.text_of
    with doc.table(col_widths=(25, 155), first_row_as_headings=False, borders_layout="NONE",
                   line_height=5) as table:
        for label, value in facts:
            row = table.row()
            row.cell(t(label), style=FontFace(emphasis="BOLD"))
            row.cell(t(value))
    doc.ln(4)


def lines_table(doc, widths, headings, rows):
    """A ruled table: the headings shaded, the first column and the numbers right-aligned
    (the second column, a description, left)."""
    t = doc.text_of
    doc.set_font(doc.family, "", 8.5)
    with doc.table(col_widths=widths, text_align=("RIGHT", "LEFT") + ("RIGHT",) * (
            len(widths) - 2), line_height=5,
            headings_style=FontFace(emphasis="BOLD", fill_color=(225, 230, 240))) as table:
        row = table.row()
        for h in headings:
            row.cell(t(h.strip()))
        for values in rows:
            row = table.row()
            for v in values:
                row.cell(t(v))
    doc.ln(3)


def total_rows(doc, rows):
    """(label, amount text, bold) rows, right-aligned under the table."""
    for label, text, bold in rows:
        doc.set_font(doc.family, "B" if bold else "", 10)
        doc.cell(doc.epw - 40, 6, doc.text_of(label), align="R")
        doc.cell(40, 6, doc.text_of(text), align="R", new_x="LMARGIN", new_y="NEXT")


def latin1_only(value):
    """Whether every string in the invoice prints in the core font."""
    if isinstance(value, dict):
        return all(latin1_only(v) for v in value.values())
    if isinstance(value, list):
        return all(latin1_only(v) for v in value)
    try:
        str(value).encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


def _readings(inv):
    lo, hi = inv.get("reading_open_wh"), inv.get("reading_close_wh")
    if lo is None or hi is None:
        return "no meter records in the period"
    return "opening %s kWh, closing %s kWh" % (dec(lo, 1000), dec(hi, 1000))


def local_date(t, off_min=0):
    return time.strftime("%Y-%m-%d", time.gmtime(t + off_min * 60)) if t is not None else ""
