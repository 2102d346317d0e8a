"""The invoice endpoints over real HTTP on a real SQLite store, the PDF read back with pypdf
(gateway/invoice_api.py, gateway/invoice_render.py, docs/billing.md "Invoices")."""
import csv
import io
import urllib.request

import pytest
from pypdf import PdfReader

from gateway.api import make_api
from gateway.service import ApiServer
from test_api import KEY, Client, free_port
from test_invoices import store   # noqa: F401 (a fixture: m-1 used 250 kWh in June)


@pytest.fixture
def gw(store):
    srv = ApiServer(make_api(store, None, [KEY]), "127.0.0.1", free_port()).start()
    c = Client(srv.url)
    c.store = store
    yield c
    srv.stop()


def fetch(gw, path):
    with urllib.request.urlopen(gw.url + path, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def issued(gw):
    st, d = gw.call("POST", "/api/invoices", {"meter": "m-1", "period": "2024-06"}, key=KEY)
    assert st == 201 and d["status"] == "draft", d
    st, i = gw.call("POST", "/api/invoices/%s/issue" % d["ref"], key=KEY)
    assert st == 200 and i["number"] == "INV-000001", i
    return i


def test_draft_issue_pay_list(gw):
    st, s = gw.call("PUT", "/api/billing/invoice-settings",
                    {"utility_name": "Shakti Power", "utility_address": "12 Grid Road\nPune"},
                    key=KEY)
    assert st == 200 and s["utility_name"] == "Shakti Power" and s["due_days"] == "15"
    i = issued(gw)
    assert i["total"] == 126850 and i["utility"]["name"] == "Shakti Power"
    st, p = gw.call("POST", "/api/invoices/INV-000001/payments",
                    {"amount": 126850, "date": "2024-07-04", "reference": "NEFT 77"}, key=KEY)
    assert st == 201 and p["status"] == "paid" and p["balance"] == 0
    st, lst = gw.get("/api/invoices?meter=m-1&status=paid")
    assert st == 200 and [x["number"] for x in lst["invoices"]] == ["INV-000001"]
    assert gw.get("/api/invoices?period=2024-05")[1] == {"invoices": []}
    st, one = gw.get("/api/invoices/INV-000001")
    assert st == 200 and one["payments"][0]["reference"] == "NEFT 77"


def test_pdf_has_every_line_and_the_total(gw):
    gw.call("PUT", "/api/billing/invoice-settings", {"utility_name": "Shakti Power"}, key=KEY)
    i = issued(gw)
    st, ctype, body = fetch(gw, "/api/invoices/INV-000001.pdf")
    assert st == 200 and ctype == "application/pdf" and body.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    for x in i["lines"]:
        assert x["text"] in text
    for needle in ("Energy slab 2 (100-300 kWh) 4.5/kWh 150 kWh 675.00",   # rate, quantity, amount
                   "GST 18% of energy+fixed 1,075.00 18% 193.50", "Total (INR) 1,268.50",
                   "Tax included (INR) 193.50", "INVOICE", "Number: INV-000001",
                   "Status: issued", "Due: ", "Shakti Power", "Customer Asha Rao", "Meter m-1",
                   "Readings opening 0 kWh, closing 250 kWh", "Energy 250 kWh",
                   "Balance due (INR) 1,268.50"):
        assert needle in text, needle
    # a name outside Latin-1 embeds a Unicode font and still reads back
    gw.store.register_meter("m-1", name="Łukasz Żółć")
    st, d = gw.call("POST", "/api/invoices", {"meter": "m-1", "period": "2024-07"}, key=KEY)
    st, ctype, body = fetch(gw, "/api/invoices/%s.pdf" % d["ref"])
    text = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    # July: no energy, fixed 50.00 + tax 9.00, and June's 1,268.50 carried as arrears
    for needle in ("DRAFT", "Customer Łukasz Żółć", "Arrears (unpaid before 2024-07) 1,268.50",
                   "Total (INR) 1,327.50"):
        assert needle in text, needle


def test_csv(gw):
    issued(gw)
    st, ctype, body = fetch(gw, "/api/invoices/INV-000001.csv")
    assert st == 200 and ctype.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:4] == ["number", "meter", "period", "line"]
    assert rows[2] == ["INV-000001", "m-1", "2024-06", "2", "energy",
                       "Energy slab 2 (100-300 kWh)", "", "4.5/kWh", "150 kWh", "675.00", "INR"]
    assert ["total", "Total", "1268.50"] == [rows[7][4], rows[7][5], rows[7][9]]


def test_void_and_credit_note(gw):
    issued(gw)
    st, cn = gw.call("POST", "/api/invoices/INV-000001/credit-notes",
                     {"reason": "tax billed twice", "lines": [5]}, key=KEY)
    assert st == 201 and cn["number"] == "CN-000001" and cn["total"] == -19350
    st, ctype, body = fetch(gw, "/api/invoices/CN-000001.pdf")
    text = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert "CREDIT NOTE" in text and "Original: INV-000001" in text and "-193.50" in text
    st, v = gw.call("POST", "/api/invoices/INV-000001/void", {"reason": "x"}, key=KEY)
    assert st == 409
    st, d = gw.call("POST", "/api/invoices", {"meter": "m-1", "period": "2024-07"}, key=KEY)
    st, v = gw.call("POST", "/api/invoices/%s/void" % d["ref"], {"reason": "test"}, key=KEY)
    assert st == 200 and v["status"] == "void"


@pytest.mark.parametrize("method,path,body,key,status", [
    ("POST", "/api/invoices", {"meter": "m-1", "period": "2024-06"}, None, 401),
    ("POST", "/api/invoices", {"meter": "m-1", "period": "2024-06"}, "wrong", 401),
    ("POST", "/api/invoices", {"meter": "m-1"}, KEY, 400),
    ("POST", "/api/invoices", {"meter": "m-1", "period": "2024-6"}, KEY, 400),
    ("POST", "/api/invoices", {"meter": "m-1", "period": 202406}, KEY, 400),
    ("POST", "/api/invoices", {"meter": "m-1", "period": "2024-06", "x": 1}, KEY, 400),
    ("POST", "/api/invoices", {"meter": "nobody", "period": "2024-06"}, KEY, 404),
    ("POST", "/api/invoices", {"meter": "m-1", "period": "2024-06", "plan": "none"}, KEY, 404),
    ("POST", "/api/invoices/draft-999/issue", None, KEY, 404),
    ("POST", "/api/invoices/bad%20ref/issue", None, KEY, 400),
    ("GET", "/api/invoices/INV-000009", None, None, 404),
    ("GET", "/api/invoices/INV-000009.pdf", None, None, 404),
    ("GET", "/api/invoices/INV-000009.csv", None, None, 404),
    ("GET", "/api/invoices/nope.pdf", None, None, 400),
    ("GET", "/api/invoices?status=lost", None, None, 400),
    ("GET", "/api/invoices?meter=M!", None, None, 400),
    ("GET", "/api/invoices?period=june", None, None, 400),
    ("GET", "/api/invoices?colour=red", None, None, 400),
    ("POST", "/api/invoices/INV-000001/payments", {"amount": 1, "date": "2024-07-01"}, KEY, 400),
    ("POST", "/api/invoices/INV-000001/payments",
     {"amount": -5, "date": "2024-07-01", "reference": "r"}, KEY, 400),
    ("POST", "/api/invoices/INV-000001/payments",
     {"amount": "5", "date": "2024-07-01", "reference": "r"}, KEY, 400),
    ("POST", "/api/invoices/INV-000001/payments",
     {"amount": 999999999, "date": "2024-07-01", "reference": "r"}, KEY, 409),
    ("POST", "/api/invoices/INV-000001/payments",
     {"amount": 5, "date": "2024-07-01", "reference": "r"}, None, 401),
    ("POST", "/api/invoices/INV-000001/void", {}, KEY, 400),
    ("POST", "/api/invoices/INV-000001/void", {"reason": 5}, KEY, 400),
    ("POST", "/api/invoices/INV-000001/credit-notes", {"reason": "r", "lines": "all"}, KEY, 400),
    ("POST", "/api/invoices/INV-000001/credit-notes", {"reason": "r", "lines": [77]}, KEY, 400),
    ("POST", "/api/invoices/INV-000001/issue", None, KEY, 409),
    ("PUT", "/api/billing/invoice-settings", {"due_days": 3}, KEY, 400),
    ("PUT", "/api/billing/invoice-settings", {"colour": "red"}, KEY, 400),
    ("PUT", "/api/billing/invoice-settings", {"due_days": "3"}, None, 401),
])
def test_bad_requests(gw, method, path, body, key, status):
    issued(gw)
    st, b = gw.call(method, path, body, key=key)
    assert st == status, b
    assert b["status"] == status and b["error"]
