"""A removed meter's final bill (gateway/service_dates.py, gateway/billing.py; docs/billing.md
"A meter connected or removed during the month"), over real HTTP on SQLite and PostgreSQL
(the `db` fixture): the last month prorated up to the removal day, a meter connected and
removed in the same month, no bill after, the credit left shown as a refund due or a debt
owed, bad dates refused, the console's edit (roles, CSRF, audit) and migration 0006 applied
to an existing database."""
import csv
import io
import json
import urllib.request

import pytest
from pypdf import PdfReader

from gateway import alerts, billing, service_dates
from gateway.api import make_api
from gateway.console import accounts, mount
from gateway.service import ApiServer
from gateway.storage import migrate
from gateway.store import Store
from broker import free_port
from console_client import Browser
from databases import connect, is_pg
from prepay.civil import civil_from_days
from test_api import KEY, rec
# gw is a fixture (m-1 on TOU, m-r on the flat tariff); SLABS: 100 kWh at 3.5, 300 at 5
from test_billing import SLABS, T0, gw, put_plan   # noqa: F401

DAY = 86400
FULL = dict(SLABS, fixed=[{"name": "Fixed charge", "per_month": "50.5"},
                          {"name": "Load charge", "per_kw": "20.25"}],
            taxes=[{"name": "Electricity duty", "percent": 5}])
V2 = {"format": 2, "name": "Slabs (format 2)", "currency": "INR", "lines": [
    {"id": "energy", "name": "Energy", "type": "blocks", "limits_per": "month",
     "blocks": [{"upto": 100, "rate": "3.50"}, {"upto": 300, "rate": "4.50"},
                {"rate": "6.00"}]},
    {"id": "fixed", "name": "Fixed charge", "type": "fixed", "amount": 50, "per": "month"},
    {"id": "tax", "name": "Tax 18%", "type": "percent", "rate": 18, "of": ["energy", "fixed"]}]}


def hourly(store, mid, first_day, days, credit, **attrs):
    """A meter with a record every hour from local midnight of June `first_day` (UTC) for
    `days` days and one more: 250 Wh an hour (6 kWh a day), its credit 1 lower each hour."""
    store.register_meter(mid, **attrs)
    t0 = T0 + (first_day - 1) * DAY
    store.insert_records(mid, [rec(k + 1, 250 * k, t0 + 3600 * k, credit=credit - k)
                               for k in range(days * 24 + 1)])


def set_dates(gw, mid, **dates):
    return gw.call("POST", "/api/meters", dict(dates, id=mid), key=KEY)


def removed(gw, mid, date):
    st, m = set_dates(gw, mid, disconnected=date)
    assert st == 200 and m["disconnected"] == date, m


def test_the_final_month_is_prorated_up_to_the_removal_day(gw):
    """Removed on 20 June: 20 of 30 days, 120 kWh (records up to the end of 20 June; the
    ten days after stay stored, unbilled). By hand, plan FULL (format 1):
      energy  slab 1: 100 kWh x 3.5 = 350; slab 2: 20 kWh x 5 = 100; slab 3: 0
              (format 1 prorates no slab limit, in the first month nor the last)
      fixed   50.5 x 20/30 = 33.67 -> 34; load 3.5 kW x 20.25 = 70.875 x 20/30 = 47.25 -> 47
      tax     5% of 350 + 100 + 0 + 34 + 47 = 531 -> 26.55 -> 27;   total 558
    Credit at the last record of 20 June (seq 481, 24:00): 5000 - 480 = 4520, a refund."""
    put_plan(gw, "full", FULL)
    hourly(gw.store, "f-1", 1, 30, 5000, billing_plan="full", sanctioned_load_w=3500)
    removed(gw, "f-1", "2024-06-20")
    st, b = gw.get("/api/meters/f-1/bill?period=2024-06")
    assert st == 200, b
    assert (b["days"], b["service_days"], b["energy_wh"], b["final"]) == (30, 20, 120000, True)
    assert [(x["wh"], x["amount"]) for x in b["lines"] if x["kind"] == "energy"] == [
        (100000, 350), (20000, 100), (0, 0)]
    assert [(x["text"], x["exact"], x["amount"], x["prorated"]) for x in b["lines"]
            if x["kind"] == "fixed"] == [
        ("Fixed charge, 20/30 days", "50.5", 34, {"days": 20, "of": 30}),
        ("Load charge 3.5 kW x 20.25, 20/30 days", "70.875", 47, {"days": 20, "of": 30})]
    tax = [x for x in b["lines"] if x["kind"] == "tax"]
    assert [(x["base"], x["amount"]) for x in tax] == [(531, 27)] and b["total"] == 558
    reading = {"seq": 481, "t": T0 + 20 * DAY, "wh": 120000, "credit": 4520}
    assert b["removal"] == {"date": "2024-06-20", "reading": reading, "credit": 4520,
                            "refund_due": 4520, "debt_owed": 0}
    assert b["prepaid"]["closing"] == reading     # reconciled up to the removal too
    st, text = gw.get("/api/meters/f-1/bill.txt?period=2024-06")
    assert text.startswith("FINAL INVOICE  f-1  2024-06") and "30 days, 20 in service" in text
    assert "Final bill: the meter was removed on 2024-06-20; the account is closed" in text
    assert "Final reading: 120 kWh (seq 481)" in text
    assert [ln.split()[-1] for ln in text.splitlines()
            if "Refund due" in ln] == ["45.20"]
    # the same rule as the first month: connected on 11 June, 20 days, the same charges
    hourly(gw.store, "c-1", 11, 20, 5000, billing_plan="full", sanctioned_load_w=3500,
           connected="2024-06-11")
    st, first = gw.get("/api/meters/c-1/bill?period=2024-06")
    assert first["service_days"] == 20 and first["lines"] == b["lines"]
    assert "removal" not in first and first["total"] == 558


def test_the_removal_day_ends_at_the_meters_local_midnight(gw):
    """UTC+5:30: 20 June ends at 18:30 UTC. Records every UTC hour from 1 June 00:00 UTC:
    the energy billed is 474.5 h x 250 Wh = 118625 Wh (the hour 18:00-19:00 split at the
    half-hour slot), the final reading the last record by then (18:00 UTC, seq 475)."""
    put_plan(gw, "full", FULL)
    hourly(gw.store, "f-3", 1, 30, 5000, billing_plan="full", sanctioned_load_w=3500,
           utc_offset_min=330)
    removed(gw, "f-3", "2024-06-20")
    st, b = gw.get("/api/meters/f-3/bill?period=2024-06")
    assert st == 200, b
    assert (b["service_days"], b["energy_wh"]) == (20, 118625)
    assert b["removal"]["reading"] == {"seq": 475, "t": T0 + 19 * DAY + 18 * 3600,
                                       "wh": 118500, "credit": 5000 - 474}
    st, e = gw.get("/api/meters/f-3/bill?period=2024-07")
    assert st == 409 and "removed on 2024-06-20" in e["error"], e


def test_a_format_2_final_month_prorates_fixed_charges_and_slab_limits(gw):
    """Format 2 prorates slab limits too. Removed on 20 June, 120 kWh; by hand:
      limits  100 x 20/30 = 200/3 kWh, 300 x 20/30 = 200 kWh
      energy  200/3 x 3.50 = 233.333 -> 233.33; (120 - 200/3) = 160/3 x 4.50 = 240.00
      fixed   50 x 20/30 = 33.333 -> 33.33
      tax     18% of 233.33 + 240.00 + 33.33 = 506.66 -> 91.1988 -> 91.20; total 597.86
    A meter connected on 11 June with the same 120 kWh gets the very same lines."""
    put_plan(gw, "v2", V2)
    hourly(gw.store, "f-2", 1, 30, 100, billing_plan="v2")
    removed(gw, "f-2", "2024-06-20")
    st, b = gw.get("/api/meters/f-2/bill?period=2024-06")
    assert st == 200, b
    assert [(x["id"], x["quantity"], x["amount"]) for x in b["lines"]] == [
        ("energy", "200/3", "233.33"), ("energy", "160/3", "240.00"),
        ("fixed", "2/3", "33.33"), ("tax", None, "91.20")]
    assert b["total"] == 59786 and b["service_days"] == 20
    # credit 100 - 480 = -380 at the removal: a debt the consumer owes
    assert (b["removal"]["credit"], b["removal"]["refund_due"], b["removal"]["debt_owed"]) \
        == (-380, 0, 380)
    st, text = gw.get("/api/meters/f-2/bill.txt?period=2024-06")
    assert [ln.split()[-1] for ln in text.splitlines() if "Debt owed" in ln] == ["3.80"]
    hourly(gw.store, "c-2", 11, 20, 100, billing_plan="v2", connected="2024-06-11")
    st, first = gw.get("/api/meters/c-2/bill?period=2024-06")
    assert first["lines"] == b["lines"] and first["total"] == 59786


def test_a_meter_connected_and_removed_in_the_same_month(gw):
    """Connected 11 June, removed 20 June: 10 of 30 days, 60 kWh (records from the 11th;
    those after the 20th unbilled). By hand, plan FULL:
      energy  60 kWh x 3.5 = 210 (slabs 2 and 3 empty)
      fixed   50.5 x 10/30 = 16.83 -> 17; load 70.875 x 10/30 = 23.625 -> 24
      tax     5% of 210 + 17 + 24 = 251 -> 12.55 -> 13;   total 264
    With the meter's TOU tariff (?plan=tou) the standing charge is 10 x 1.25 = 12.5 -> 13."""
    put_plan(gw, "full", FULL)
    put_plan(gw, "tou", {"energy": {"type": "tou"}})
    hourly(gw.store, "s-1", 11, 15, 700, billing_plan="full", sanctioned_load_w=3500,
           tariff="tou", connected="2024-06-11")
    removed(gw, "s-1", "2024-06-20")
    st, b = gw.get("/api/meters/s-1/bill?period=2024-06")
    assert st == 200, b
    assert (b["service_days"], b["energy_wh"]) == (10, 60000)
    assert [x["amount"] for x in b["lines"]] == [210, 0, 0, 17, 24, 13] and b["total"] == 264
    assert [x["text"] for x in b["lines"] if x["kind"] == "fixed"] == [
        "Fixed charge, 10/30 days", "Load charge 3.5 kW x 20.25, 10/30 days"]
    assert b["removal"]["reading"]["seq"] == 241 and b["removal"]["refund_due"] == 700 - 240
    st, b = gw.get("/api/meters/s-1/bill?period=2024-06&plan=tou")
    assert [(x["days"], x["exact"], x["amount"]) for x in b["lines"]
            if x["kind"] == "standing"] == [(10, "12.5", 13)]


def test_no_bill_after_the_removal_and_later_records_stay_stored(gw):
    put_plan(gw, "full", FULL)
    hourly(gw.store, "f-1", 1, 40, 5000, billing_plan="full", sanctioned_load_w=3500,
           tariff="flat")
    removed(gw, "f-1", "2024-06-20")
    for path in ("/api/meters/f-1/bill?period=2024-07", "/api/meters/f-1/statement?period=2024-07",
                 "/api/meters/f-1/bill?period=2024-06-21..2024-06-30"):
        st, e = gw.get(path)
        assert st == 409 and "removed on 2024-06-20" in e["error"], (path, e)
    st, e = gw.call("POST", "/api/invoices", {"meter": "f-1", "period": "2024-07"}, key=KEY)
    assert st == 409 and "removed on 2024-06-20" in e["error"], e
    # its records after the removal day are kept, only not billed
    after = gw.store.query("SELECT count(*) AS n FROM raw r JOIN meters m USING(mid) WHERE"
                           " m.id='f-1' AND r.t > ?", (T0 + 20 * DAY,))[0]["n"]
    assert after == 20 * 24
    # the fleet runs leave it out of July, and bill its final June
    st, r = gw.call("POST", "/api/billing/runs", {"period": "2024-07"}, key=KEY)
    assert st == 200 and r["closed"] == [{"meter": "f-1", "disconnected": "2024-06-20"}], r
    assert "f-1" not in [x["meter"] for x in r["invoiced"] + r["failed"]]
    st, r = gw.call("POST", "/api/billing/statement-runs", {"period": "2024-07"}, key=KEY)
    assert st == 200 and r["closed"] == [{"meter": "f-1", "disconnected": "2024-06-20"}], r
    assert "f-1" not in [x["meter"] for x in r["made"] + r["failed"]]
    st, r = gw.call("POST", "/api/billing/runs", {"period": "2024-06"}, key=KEY)
    assert st == 200 and "f-1" in [x["meter"] for x in r["invoiced"]] and r["closed"] == []
    # cleared (null), the meter is in service again: July is billed whole
    st, m = set_dates(gw, "f-1", disconnected=None)
    assert st == 200 and "disconnected" not in m, m
    st, b = gw.get("/api/meters/f-1/bill?period=2024-07")
    assert st == 200 and b["service_days"] == 31 and "removal" not in b


def test_the_final_invoice_and_statement_say_final_and_show_the_refund(gw):
    put_plan(gw, "full", FULL)
    hourly(gw.store, "f-1", 1, 30, 5000, billing_plan="full", sanctioned_load_w=3500,
           tariff="flat")
    removed(gw, "f-1", "2024-06-20")
    st, inv = gw.call("POST", "/api/invoices", {"meter": "f-1", "period": "2024-06"}, key=KEY)
    assert st == 201 and inv["removal"]["refund_due"] == 4520 and inv["total"] == 558, inv
    st, inv = gw.call("POST", "/api/invoices/%s/issue" % inv["ref"], {}, key=KEY)
    assert st == 200, inv
    body = fetch(gw, "/api/invoices/%s.pdf" % inv["number"])
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert "FINAL INVOICE" in text and "removed on 2024-06-20" in text
    assert "Refund due" in text and "45.20" in text
    rows = list(csv.reader(io.StringIO(fetch(gw, "/api/invoices/%s.csv"
                                             % inv["number"]).decode())))
    assert [(r[4], r[9]) for r in rows if r[4] in ("credit_left", "refund_due")] == [
        ("credit_left", "45.20"), ("refund_due", "45.20")]
    # the prepaid statement of the month is the final one too
    st, s = gw.get("/api/meters/f-1/statement?period=2024-06")
    assert st == 200 and s["removal"]["refund_due"] == 4520 and s["service_days"] == 20
    # the flat tariff: 120 kWh x 100 = 12000 charged; debited 5000 - 4520 = 480
    assert (s["charged"], s["reconciliation"]["debited"]) == (12000, 480)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(fetch(
        gw, "/api/meters/f-1/statement.pdf?period=2024-06"))).pages)
    assert "FINAL PREPAID STATEMENT" in text and "Refund due" in text
    rows = list(csv.reader(io.StringIO(fetch(
        gw, "/api/meters/f-1/statement.csv?period=2024-06").decode())))
    assert [(r[2], r[6]) for r in rows if r[2] == "refund_due"] == [("refund_due", "45.20")]


def test_a_removed_meter_raises_no_supply_alerts(gw):
    """Offline for years and its credit below the threshold: offline and low_credit while
    in service; none once it is removed (there is no supply left to watch)."""
    hourly(gw.store, "f-4", 1, 2, 100)
    kinds = lambda: sorted(a["kind"] for a in alerts.alerts(gw.store) if a["meter"] == "f-4")
    assert kinds() == ["low_credit", "offline"]
    removed(gw, "f-4", "2024-06-02")
    assert kinds() == []


def fetch(gw, path):
    with urllib.request.urlopen(gw.url + path, timeout=10) as r:
        return r.read()


def local_day(off_min, shift):
    return "%04d-%02d-%02d" % civil_from_days(service_dates.today(off_min) + shift)


@pytest.mark.parametrize("dates,msg", [
    ({"disconnected": "2024-02-30"}, "disconnected: must be a date YYYY-MM-DD"),
    ({"disconnected": "20/06/2024"}, "disconnected: must be a date YYYY-MM-DD"),
    ({"disconnected": 20240620}, "'disconnected': must be a string"),
    ({"disconnected": "2024-06-09"}, "2024-06-09 is before the meter was connected (2024-06-10)"),
    ({"disconnected": "tomorrow"}, "is in the future (a meter is removed on or before today)"),
    ({"connected": "2024-06-21", "disconnected": "2024-06-20"}, "before the meter was connected"),
])
def test_bad_removal_dates_are_refused_and_nothing_is_stored(gw, dates, msg):
    gw.store.register_meter("d-1", connected="2024-06-10", utc_offset_min=330)
    if dates.get("disconnected") == "tomorrow":    # the meter's local tomorrow (UTC+5:30)
        dates = {"disconnected": local_day(330, 1)}
    st, e = set_dates(gw, "d-1", **dates)
    assert st == 400 and msg in e["error"], e
    m = gw.store.meter("d-1")
    assert "disconnected" not in m and m["connected"] == "2024-06-10"
    # a removal stored first makes a later connection date the bad one
    assert set_dates(gw, "d-1", disconnected="2024-06-20")[0] == 200
    st, e = set_dates(gw, "d-1", connected="2024-06-21")
    assert st == 400 and "2024-06-20 is before the meter was connected (2024-06-21)" in \
        e["error"], e
    assert gw.store.meter("d-1")["connected"] == "2024-06-10"
    # the meter's own today is accepted, the same day as its connection too
    assert set_dates(gw, "d-1", disconnected=local_day(330, 0))[0] == 200
    assert set_dates(gw, "d-1", disconnected="2024-06-10")[0] == 200


def test_a_bad_removal_date_that_reached_the_store_stops_the_bill_with_the_reason(gw):
    put_plan(gw, "full", SLABS)
    gw.store.register_meter("d-2", billing_plan="full", disconnected="soon")
    st, e = gw.get("/api/meters/d-2/bill?period=2024-06")
    assert st == 409 and "disconnected must be a date YYYY-MM-DD, got 'soon'" in e["error"], e


# -- the console ------------------------------------------------------------------------------
PW = {"root": "admin-pass-1", "vic": "viewer-pass-1"}


@pytest.fixture
def site(db):
    store = Store(db(), utc_offset_min=330)
    store.register_meter("m-1", name="Flat 1", connected="2024-06-01")
    for name, role in (("root", "admin"), ("vic", "viewer")):
        accounts.add(store, name, role, PW[name])
    api = make_api(store, None, [KEY])
    mount(api, store, currency="INR", decimals=2)
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    yield srv.url, store
    srv.stop()
    store.close()


def browser(site, who):
    b = Browser(site[0])
    assert b.login(who, PW[who])[0] == 303
    return b


def audits(store):
    return [r for r in store.query("SELECT * FROM audit_log ORDER BY id")
            if r["action"] == "set_disconnected"]


def test_the_console_sets_and_clears_the_removal_date_with_csrf_roles_and_audit(site):
    url, store = site
    b = browser(site, "root")
    st, page = b.get("/meters/m-1")
    assert st == 200 and 'action="/meters/m-1/disconnected"' in page
    form = {"date": "2024-06-20", "confirm": "yes"}
    st, page = b.post("/meters/m-1/disconnected", form, csrf=False)     # no CSRF token
    assert st == 403 and "CSRF" in page
    st, _ = b.request("POST", "/meters/m-1/disconnected", dict(form, csrf="forged"))
    assert st == 403
    viewer = browser(site, "vic")
    viewer.get("/")
    st, page = viewer.post("/meters/m-1/disconnected", form)
    assert st == 403 and "viewer role may not" in page
    st, page = b.post("/meters/m-1/disconnected", dict(form, confirm=""))
    assert st == 400 and "confirm" in page
    assert "disconnected" not in store.meter("m-1") and audits(store) == []
    # a bad date is refused inline with the API's reason, nothing stored or audited
    b.get("/meters/m-1")
    st, page = b.post("/meters/m-1/disconnected", dict(form, date="2024-05-31"))
    assert st == 400 and "before the meter was connected (2024-06-01)" in page
    assert "disconnected" not in store.meter("m-1") and audits(store) == []
    # set: saved, shown, audited with the state before and after
    b.get("/meters/m-1")
    st, _ = b.post("/meters/m-1/disconnected", form)
    assert st == 303 and store.meter("m-1")["disconnected"] == "2024-06-20"
    st, page = b.get("/meters/m-1?removal=saved")
    assert "Removal date saved" in page and "removed 2024-06-20" in page
    [entry] = audits(store)
    assert (entry["actor"], entry["target"]) == ("root", "m-1")
    assert (json.loads(entry["before"]), json.loads(entry["after"])) == (
        {"disconnected": None}, {"disconnected": "2024-06-20"})
    # cleared with an empty date
    st, _ = b.post("/meters/m-1/disconnected", {"date": "", "confirm": "yes"})
    assert st == 303 and "disconnected" not in store.meter("m-1")
    assert [(json.loads(e["before"]), json.loads(e["after"])) for e in audits(store)][-1] == (
        {"disconnected": "2024-06-20"}, {"disconnected": None})


# -- migration 0006 -------------------------------------------------------------------------
def test_migration_0006_adds_the_removal_date_to_an_existing_database(db):
    """A database at version 5, as the gateway before this change left it (made here by
    taking 0006 back out of a current one), with a meter and its records: opened, it is
    migrated to 6 with its data, and the meter can then be removed and billed to the day."""
    target = db("old.db")
    store = Store(target)
    store.register_meter("m-1", name="Flat 1", billing_plan="full", connected="2024-06-01",
                         sanctioned_load_w=3500)
    store.put_billing_plan("full", FULL)
    hourly(store, "m-2", 1, 30, 5000, billing_plan="full", sanctioned_load_w=3500)
    store.close()
    c = connect(target)
    c.execute("ALTER TABLE meters DROP COLUMN disconnected")
    if is_pg(target):
        c.execute("UPDATE schema_version SET version=5 WHERE name='main'")
    else:
        c.execute("PRAGMA user_version=5")
    c.close()
    assert migrate.latest(migrate.MAIN) == 6
    store = Store(target)
    try:
        assert store.versions["main"] == 6
        m = store.meter("m-1")
        assert (m["name"], m["connected"], m["billing_plan"]) == ("Flat 1", "2024-06-01", "full")
        assert "disconnected" not in m
        store.register_meter("m-2", disconnected="2024-06-20")
        assert store.meter("m-2")["disconnected"] == "2024-06-20"
        b = billing.bill(store, "m-2", "2024-06")
        assert (b["service_days"], b["energy_wh"], b["total"]) == (20, 120000, 558)
    finally:
        store.close()
    c = connect(target)
    try:
        col = c.execute("SELECT disconnected FROM meters WHERE id='m-2'").fetchone()[0]
        assert col == "2024-06-20"
    finally:
        c.close()
