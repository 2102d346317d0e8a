"""Invoices on a real SQLite store (gateway/invoices.py, docs/billing.md "Invoices"):
numbering, states, immutability, credit notes, payments, arrears and late fees."""
import calendar
import sqlite3
import threading

import psycopg
import pytest

from gateway import invoices as inv
from gateway.store import Store
from test_api import rec

DAY = 86400
JUNE = calendar.timegm((2024, 6, 1, 0, 0, 0))
JULY = calendar.timegm((2024, 7, 1, 0, 0, 0))
AUG = calendar.timegm((2024, 8, 1, 0, 0, 0))
# The project's reference tariff (issue 15, golden bill 1): at 250 kWh energy 1025.00,
# fixed 50.00, tax 18% 193.50, total 1268.50 (format 1: rates in minor units per kWh)
REFERENCE = {"name": "Reference", "currency": "INR",
             "energy": {"type": "slabs", "slabs": [{"upto_kwh": 100, "rate": 350},
                                                   {"upto_kwh": 300, "rate": 450},
                                                   {"rate": 600}]},
             "fixed": [{"name": "Fixed charge", "per_month": 5000}],
             "taxes": [{"name": "GST", "percent": 18, "on": ["energy", "fixed"]}]}


def meter(store, mid, start, wh, seq=1, last=0):
    """`wh` Wh used in the month starting at `start` (records at +60 s and +5 days)."""
    store.insert_records(mid, [rec(seq, last, start + 60), rec(seq + 1, last + wh,
                                                               start + 60 + 5 * DAY)])


@pytest.fixture
def store(tmp_path, db):
    s = Store(db("gw.db"))
    s.put_billing_plan("ref", REFERENCE)
    s.register_meter("m-1", name="Asha Rao", billing_plan="ref")
    meter(s, "m-1", JUNE, 250000)
    yield s
    s.close()


def test_draft_is_the_bill_snapshot(store):
    d = inv.create_draft(store, "m-1", "2024-06", now=JULY)
    assert d["state"] == d["status"] == "draft" and d["number"] is None
    assert d["ref"] == "draft-%d" % d["id"]
    assert [(x["kind"], x["text"], x["amount"]) for x in d["lines"]] == [
        ("energy", "Energy slab 1 (0-100 kWh)", 35000),
        ("energy", "Energy slab 2 (100-300 kWh)", 67500),
        ("energy", "Energy slab 3 (above 300 kWh)", 0),
        ("fixed", "Fixed charge", 5000),
        ("tax", "GST 18% of energy+fixed", 19350)]
    assert d["lines"][1]["quantity"] == "150 kWh" and d["lines"][1]["rate"] == "4.5/kWh"
    assert d["lines"][4]["base"] == "1,075.00" and d["lines"][4]["rate"] == "18%"
    assert (d["total"], d["tax"], d["decimals"], d["currency"]) == (126850, 19350, 2, "INR")
    assert d["customer"] == "Asha Rao" and d["energy_wh"] == 250000
    assert (d["reading_open_wh"], d["reading_close_wh"]) == (0, 250000)
    # remade, not duplicated, while a draft
    again = inv.create_draft(store, "m-1", "2024-06", now=JULY)
    assert again["id"] == d["id"] and len(inv.listing(store)) == 1


def test_issue_numbers_and_freezes(store):
    inv.put_settings(store, {"utility_name": "Shakti Power", "due_days": "10"})
    d = inv.create_draft(store, "m-1", "2024-06", now=JULY)
    i = inv.issue(store, d["ref"], now=JULY)
    assert i["number"] == "INV-000001" and i["state"] == "issued" and i["status"] == "issued"
    assert i["due"] == "2024-07-11" and i["utility"]["name"] == "Shakti Power"
    # the plan changes: the issued invoice keeps its lines
    store.put_billing_plan("ref", dict(REFERENCE, fixed=[{"name": "Fixed", "per_month": 9999}]))
    assert inv.get(store, "INV-000001", now=JULY)["lines"] == i["lines"]
    with pytest.raises(inv.InvoiceError) as e:
        inv.issue(store, "INV-000001")
    assert e.value.status == 409
    with pytest.raises(inv.InvoiceError) as e:
        inv.create_draft(store, "m-1", "2024-06", now=JULY)
    assert e.value.status == 409 and "INV-000001" in str(e.value)
    # overdue after the due date, derived, never stored
    assert inv.get(store, "INV-000001", now=JULY + 11 * DAY)["status"] == "overdue"


def test_concurrent_issues_are_gap_free(store):
    n = 24
    for k in range(n):
        store.register_meter("c-%d" % k, billing_plan="ref")
        meter(store, "c-%d" % k, JUNE, 1000 * k)
    drafts = [inv.create_draft(store, "c-%d" % k, "2024-06", now=JULY)["ref"] for k in range(n)]
    got, errors = [], []
    barrier = threading.Barrier(8)

    def worker(refs):
        barrier.wait()
        for r in refs:
            try:
                got.append(inv.issue(store, r, now=JULY)["number"])
            except Exception as e:   # collected: the assertion below shows it
                errors.append(e)
    threads = [threading.Thread(target=worker, args=(drafts[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(got) == ["INV-%06d" % k for k in range(1, n + 1)]


def test_payments_and_states(store):
    i = inv.issue(store, inv.create_draft(store, "m-1", "2024-06", now=JULY)["ref"], now=JULY)
    n = i["number"]
    p = inv.pay(store, n, 26850, "2024-07-05", "UPI-1", now=JULY)
    assert (p["paid"], p["balance"], p["status"]) == (26850, 100000, "partly_paid")
    assert p["payments"] == [{"id": 1, "amount": 26850, "date": "2024-07-05",
                              "reference": "UPI-1"}]
    assert inv.get(store, n, now=AUG)["status"] == "overdue"
    for amount, date, ref, status in ((0, "2024-07-05", "x", 400), (True, "2024-07-05", "x", 400),
                                      (1.5, "2024-07-05", "x", 400), (1, "2024-7-5", "x", 400),
                                      (1, "2024-02-30", "x", 400), (1, None, "x", 400),
                                      (1, "2024-07-05", "", 400), (1, "2024-07-05", 5, 400),
                                      (1, "2024-07-05", "UPI-1", 409),
                                      (100001, "2024-07-05", "big", 409)):
        with pytest.raises(inv.InvoiceError) as e:
            inv.pay(store, n, amount, date, ref, now=JULY)
        assert e.value.status == status, (amount, date, ref)
    assert inv.pay(store, n, 100000, "2024-07-06", "UPI-2", now=JULY)["status"] == "paid"
    assert inv.get(store, n, now=AUG)["status"] == "paid"
    # no payment on a draft, an unknown or a malformed number
    d = inv.create_draft(store, "m-1", "2024-07", now=AUG)
    for ref, status in ((d["ref"], 409), ("INV-000099", 404), ("nope", 400), ("draft-x", 400)):
        with pytest.raises(inv.InvoiceError) as e:
            inv.pay(store, ref, 1, "2024-07-05", "r", now=AUG)
        assert e.value.status == status


def test_void(store):
    d = inv.create_draft(store, "m-1", "2024-06", now=JULY)
    assert inv.void(store, d["ref"], "wrong meter", now=JULY)["status"] == "void"
    i = inv.issue(store, inv.create_draft(store, "m-1", "2024-06", now=JULY)["ref"], now=JULY)
    v = inv.void(store, i["number"], "duplicate", now=JULY)
    assert v["status"] == "void" and v["void_reason"] == "duplicate"
    with pytest.raises(inv.InvoiceError) as e:
        inv.void(store, i["number"], "again")
    assert e.value.status == 409
    with pytest.raises(inv.InvoiceError) as e:
        inv.void(store, i["number"], "")
    assert e.value.status == 400
    # the number stays used: the next invoice is 2, so the series has no gap
    i2 = inv.issue(store, inv.create_draft(store, "m-1", "2024-06", now=JULY)["ref"], now=JULY)
    assert i2["number"] == "INV-000002"
    inv.pay(store, i2["number"], 100, "2024-07-02", "r", now=JULY)
    with pytest.raises(inv.InvoiceError) as e:
        inv.void(store, i2["number"], "paid already")
    assert e.value.status == 409


def test_credit_note(store):
    i = inv.issue(store, inv.create_draft(store, "m-1", "2024-06", now=JULY)["ref"], now=JULY)
    cn = inv.credit_note(store, i["number"], "fixed charge billed in error", [4, 5], now=JULY)
    assert cn["number"] == "CN-000001" and cn["kind"] == "credit_note"
    assert cn["original"] == i["number"] and cn["reason"] == "fixed charge billed in error"
    assert [(x["amount"], x["credits"]) for x in cn["lines"]] == [(-5000, 4), (-19350, 5)]
    assert cn["lines"][0]["text"] == "Credit: Fixed charge (INV-000001 line 4)"
    assert cn["total"] == -24350 and cn["tax"] == -19350
    got = inv.get(store, i["number"], now=JULY)
    assert got["credited"] == 24350 and got["balance"] == 102500
    assert got["credit_notes"] == ["CN-000001"] and got["total"] == 126850   # unchanged
    for ref, lines, status in ((i["number"], [4], 409), (i["number"], [9], 400),
                               (i["number"], [], 400), (i["number"], ["1"], 400),
                               (i["number"], [1, 1], 400), (i["number"], [3], 409),
                               ("CN-000001", None, 409)):
        with pytest.raises(inv.InvoiceError) as e:
            inv.credit_note(store, ref, "why", lines, now=JULY)
        assert e.value.status == status, (ref, lines)
    with pytest.raises(inv.InvoiceError) as e:
        inv.void(store, "CN-000001", "undo")
    assert e.value.status == 409 and "credit note" in str(e.value)
    rest = inv.credit_note(store, i["number"], "all of it", None if False else [1, 2], now=JULY)
    assert rest["number"] == "CN-000002"
    assert inv.get(store, i["number"], now=JULY)["status"] == "paid"    # nothing left owed


def test_arrears_and_late_fee_carry_to_the_next_bill(store):
    inv.put_settings(store, {"late_fee_percent": "1.5", "due_days": "7"})
    june = inv.issue(store, inv.create_draft(store, "m-1", "2024-06", now=JULY)["ref"], now=JULY)
    inv.pay(store, june["number"], 26850, "2024-07-03", "p1", now=JULY)   # 1000.00 left
    meter(store, "m-1", JULY, 100000, seq=3, last=250000)
    july = inv.create_draft(store, "m-1", "2024-07", now=AUG)     # June's due date has passed
    tail = [(x["kind"], x["amount"]) for x in july["lines"][-2:]]
    assert tail == [("arrears", 100000), ("late_fee", 1500)]
    assert july["lines"][-1]["base"] == "1,000.00" and july["lines"][-1]["rate"] == "1.5%"
    # 100 kWh: 35000 + fixed 5000 + 18% 7200 = 47200, plus arrears and the fee
    assert july["total"] == 47200 + 100000 + 1500
    july = inv.issue(store, july["ref"], now=AUG)
    # paying July's invoice settles the debt once: September carries nothing more
    inv.pay(store, july["number"], july["total"], "2024-08-02", "p2", now=AUG)
    sept = inv.create_draft(store, "m-1", "2024-08", now=AUG + 40 * DAY)
    assert [x["kind"] for x in sept["lines"] if x["kind"] in ("arrears", "late_fee")] == []


def test_settings_refused(store):
    for doc in ({"colour": "red"}, {"due_days": 5}, {"due_days": "-1"}, {"due_days": "400"},
                {"late_fee_percent": "1.2345"}, {"invoice_series": "inv"},
                {"invoice_series": "INV\n"}, {"due_days": "366"}, {"late_fee_percent": ""},
                {"invoice_series": "TOOLONGSERIES"}, {"utility_name": "x" * 501}, []):
        with pytest.raises(inv.InvoiceError) as e:
            inv.put_settings(store, doc)
        assert e.value.status == 400, doc
    assert inv.settings(store)["invoice_series"] == "INV"


def test_draft_errors(store):
    for meter_id, period, status in (("nobody", "2024-06", 404), ("m-1", "2024-13", 400),
                                     ("m-1", None, 400)):
        with pytest.raises(inv.InvoiceError) as e:
            inv.create_draft(store, meter_id, period)
        assert e.value.status == status
    store.register_meter("m-0")
    with pytest.raises(inv.InvoiceError) as e:
        inv.create_draft(store, "m-0", "2024-06")
    assert e.value.status == 409


V2 = {"format": 2, "name": "Reference (format 2)", "currency": "INR",
      "lines": [
          {"id": "energy", "name": "Energy", "type": "blocks", "limits_per": "month",
           "blocks": [{"upto": 100, "rate": "3.50"}, {"upto": 300, "rate": "4.50"},
                      {"rate": "6.00"}]},
          {"id": "fixed", "name": "Fixed charge", "type": "fixed", "amount": 50, "per": "month"},
          {"id": "gst", "name": "GST 18%", "type": "percent", "rate": 18,
           "of": ["energy", "fixed"]}]}


def test_a_format_2_plan_invoices_the_same_figures(store):
    store.put_billing_plan("v2", V2)
    store.register_meter("v-1", billing_plan="v2")
    meter(store, "v-1", JUNE, 250000)
    d = inv.create_draft(store, "v-1", "2024-06", now=JULY)
    assert [(x["kind"], x["text"], x["base"], x["rate"], x["quantity"], x["amount"])
            for x in d["lines"]] == [
        ("blocks", "Energy (block 1)", "kwh 0-100", "3.5", "100", 35000),
        ("blocks", "Energy (block 2)", "kwh 100-300", "4.5", "150", 67500),
        ("fixed", "Fixed charge", "per month x 1 months", "50", "1", 5000),
        ("tax", "GST 18%", "1075", "18", None, 19350)]
    assert (d["total"], d["tax"], d["decimals"]) == (126850, 19350, 2)


def test_a_whole_rupee_total_carries_its_remainder_to_the_next_invoice(store):
    """A format-2 plan with rounding.total_decimals 0 and carry: each invoice's total is
    rounded to whole rupees after adding the last issued invoice's remainder; a rounding
    line makes the lines add up to the total."""
    store.put_billing_plan("whole", {
        "format": 2, "currency": "INR", "rounding": {"total_decimals": 0, "carry": True},
        "lines": [{"id": "e", "name": "Energy", "type": "unit", "rate": "3.35"},
                  {"id": "gst", "name": "GST 18%", "type": "percent", "rate": "18",
                   "of": ["e"]}]})
    store.register_meter("v-c", billing_plan="whole")
    meter(store, "v-c", JUNE, 250000)
    meter(store, "v-c", JULY, 100000, seq=3, last=250000)
    # June: 250 x 3.35 = 837.50, GST 150.75: 988.25 -> 988, 0.25 carried out
    june = inv.create_draft(store, "v-c", "2024-06", now=JULY)
    assert [(x["kind"], x["text"], x["amount"]) for x in june["lines"]] == [
        ("unit", "Energy", 83750), ("tax", "GST 18%", 15075),
        ("rounding", "Rounding of the total (0 carried in, 0.25 carried out)", -25)]
    assert (june["total"], june["carry_in"], june["carry_out"]) == (98800, "0", "0.25")
    # a draft carries nothing: July's draft made before June is issued starts from 0
    assert inv.create_draft(store, "v-c", "2024-07", now=AUG)["carry_in"] == "0"
    inv.issue(store, june["ref"], now=JULY)
    # July: 100 x 3.35 = 335.00, GST 60.30: 395.30 + 0.25 = 395.55 -> 396, -0.45 carried
    july = inv.create_draft(store, "v-c", "2024-07", now=AUG)
    assert [(x["kind"], x["text"], x["amount"]) for x in july["lines"]] == [
        ("unit", "Energy", 33500), ("tax", "GST 18%", 6030),
        ("rounding", "Rounding of the total (0.25 carried in, -0.45 carried out)", 70),
        ("arrears", "Arrears (unpaid before 2024-07)", 98800)]
    assert july["total"] == 39600 + 98800 == sum(x["amount"] for x in july["lines"])


def test_issued_rows_are_frozen_in_the_database(store, backend):
    # each database's integrity error (the PostgreSQL triggers raise integrity_constraint_violation)
    error = sqlite3.IntegrityError if backend == "sqlite" else psycopg.IntegrityError
    i = inv.issue(store, inv.create_draft(store, "m-1", "2024-06", now=JULY)["ref"], now=JULY)
    for sql in ("UPDATE invoice_lines SET amount=1 WHERE invoice=%d" % i["id"],
                "DELETE FROM invoice_lines WHERE invoice=%d" % i["id"],
                "UPDATE invoices SET total=1 WHERE id=%d" % i["id"],
                "UPDATE invoices SET number='INV-000009' WHERE id=%d" % i["id"]):
        with pytest.raises(error, match="cannot change"):
            with store.write() as cur:
                cur.execute(sql)
    assert inv.get(store, i["number"], now=JULY)["lines"] == i["lines"]


def test_a_failed_issue_uses_no_number(store, monkeypatch):
    d = inv.create_draft(store, "m-1", "2024-06", now=JULY)

    def broken(t):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(inv, "_day", broken)        # fails after the number was taken
    with pytest.raises(RuntimeError):
        inv.issue(store, d["ref"], now=JULY)
    monkeypatch.undo()
    assert inv.get(store, d["ref"], now=JULY)["state"] == "draft"
    assert inv.issue(store, d["ref"], now=JULY)["number"] == "INV-000001"


def test_two_stores_on_one_file_issue_gap_free(store, db):
    """Two gateway processes' stores (each its own lock): SQLite's write lock, taken by the
    IMMEDIATE transaction that allocates the number, is what keeps the series gap-free."""
    n = 16
    for k in range(n):
        store.register_meter("c-%d" % k, billing_plan="ref")
        meter(store, "c-%d" % k, JUNE, 1000 * k)
    drafts = [inv.create_draft(store, "c-%d" % k, "2024-06", now=JULY)["ref"] for k in range(n)]
    other = Store(db("gw.db"), shared=True)
    got, errors = [], []

    def worker(s, refs):
        for r in refs:
            try:
                got.append(inv.issue(s, r, now=JULY)["number"])
            except Exception as e:   # collected: the assertion below shows it
                errors.append(e)
    threads = [threading.Thread(target=worker, args=(s, drafts[k::2]))
               for k, s in enumerate((store, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert errors == [] and sorted(got) == ["INV-%06d" % k for k in range(1, n + 1)]


def test_a_credit_after_payment_is_carried_as_a_credit(store):
    june = inv.issue(store, inv.create_draft(store, "m-1", "2024-06", now=JULY)["ref"], now=JULY)
    inv.pay(store, june["number"], june["total"], "2024-07-02", "p1", now=JULY)
    inv.credit_note(store, june["number"], "fixed charge waived", [4], now=JULY)
    assert inv.get(store, june["number"], now=AUG)["balance"] == -5000
    july = inv.create_draft(store, "m-1", "2024-07", now=AUG)
    assert [(x["kind"], x["text"], x["amount"]) for x in july["lines"][-1:]] == [
        ("arrears", "Credit brought forward (before 2024-07)", -5000)]
    assert july["total"] == 5900 - 5000      # fixed 50.00 + 18% tax, less the credit


def test_read_to_read_periods(store):
    """A format-2 plan bills a read-to-read period (both dates billed) as the command does:
    2024-06-16..2024-07-15 is 30 days, 15/30 of June and 15/31 of July; a format-1 plan
    bills calendar months only; invoices of one meter never overlap."""
    store.put_billing_plan("v2", V2)
    store.register_meter("v-r", billing_plan="v2")
    meter(store, "v-r", JUNE + 15 * DAY, 250000)          # all used from 16 June on
    d = inv.create_draft(store, "v-r", "2024-06-16..2024-07-15", now=AUG)
    # monthly slab limits prorated: 100 x (15/30 + 15/31) = 3050/31 = 98.387 kWh at 3.50
    # = 344.35; the other 4700/31 = 151.613 kWh at 4.50 = 682.26; fixed 50 x 61/62 = 49.19;
    # GST 18% of 1,075.80 = 193.644 -> 193.64
    assert [(x["text"], x["quantity"], x["amount"]) for x in d["lines"]] == [
        ("Energy (block 1)", "3050/31", 34435), ("Energy (block 2)", "4700/31", 68226),
        ("Fixed charge", "61/62", 4919), ("GST 18%", None, 19364)]
    assert (d["days"], d["energy_wh"], d["total"]) == (30, 250000, 126944)
    with pytest.raises(inv.InvoiceError, match="overlaps 2024-06-16..2024-07-15"):
        inv.create_draft(store, "v-r", "2024-07", now=AUG)
    with pytest.raises(inv.InvoiceError, match="format 1, which bills calendar months"):
        inv.create_draft(store, "m-1", "2024-06-16..2024-07-15", now=AUG)
    for bad, msg in (("2024-07-16..2024-07-15", "must run forward"),
                     ("2024-02-30..2024-03-29", "not real dates"),
                     ("2024-01-01..2025-01-01", "1 to 366 days")):
        with pytest.raises(inv.InvoiceError, match=msg):
            inv.create_draft(store, "v-r", bad, now=AUG)
    # the next cycle follows on; its arrears are the first's
    d2 = inv.create_draft(store, "v-r", "2024-07-16..2024-08-15", now=AUG + 20 * DAY)
    assert d2["days"] == 31
