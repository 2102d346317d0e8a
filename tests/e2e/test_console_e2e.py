"""The operator console in headless Chromium (tests/e2e/cdp.py) against `python -m gateway`
fed by two meters running the real firmware (one PZEM, one analog front-end) on real time,
through a real mosquitto: log in, the fleet, a live value changing, a token vended and
applied by the meter, a tariff edit refused inline then saved, a bill and its invoice, an
alert acknowledged, CSV export, the viewer refused a write, a form without its CSRF token
refused, and six wrong passwords locking the login. Screenshots: artifacts/console_*.png at
desktop and phone size."""
import json
import time
import urllib.request

import pytest

from broker import Broker, free_port
from cdp import Browser
from gateway.console import accounts
from gateway.store import Store
from gateway_process import GatewayProcess
from host_tools.fleet import Fleet
from waits import wait_until

KEY = "console-e2e-key"
PW = {"root": "root-password-1", "vic": "viewer-password-1", "locky": "locky-password-1"}
TOU = {"name": "tou", "rates": {"peak": "9.5", "std": 6}, "default": "std",
       "windows": [{"rate": "peak", "from": "18:00", "to": "20:00"}]}
PLAN = {"name": "Test plan", "currency": "INR", "energy": {"type": "tou"},
        "fixed": [{"name": "Fixed charge", "per_month": 5000}]}
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def api(base, path, body=None, method=None):
    req = urllib.request.Request(base + path, method=method or ("POST" if body is not None else "GET"),
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-e2e")
    port, db = free_port(), tmp / "gw.db"
    fleet = Fleet(tmp / "fleet", "127.0.0.1", port, n=2, speed=1, source=["pzem", "analog"],
                  db=db, config={"mqtt": {"tele_s": 2}})
    store = Store(db)
    for name, role in (("root", "admin"), ("vic", "viewer"), ("locky", "vendor")):
        accounts.add(store, name, role, PW[name])
    store.close()
    tariff = tmp / "tou.json"
    tariff.write_text(json.dumps(TOU))
    broker = Broker(tmp / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    user, password = fleet.gateway
    gw = GatewayProcess(tmp / "gw", broker, password, keys=[KEY], user=user, db=db, extra=[
        "--tariff", str(tariff), "--currency", "INR", "--utc-offset-min", "330"])
    browser = None
    try:
        gw.start()
        api(gw.url, "/api/billing/plans/default", PLAN, method="PUT")
        for m in fleet.meters:
            api(gw.url, "/api/meters", {"id": m.id, "tariff": "tou", "billing_plan": "default"})
        fleet.start()
        assert wait_until(lambda: all(api(gw.url, "/api/meters/" + m.id)["online"]
                                      for m in fleet.meters), 60), gw.log()[-2000:]
        browser = Browser()
        yield gw, fleet, browser
    finally:
        if browser:
            browser.close()
        fleet.stop()
        gw.stop()
        broker.stop()


def login(tab, base, name, password):
    tab.goto(base + "/login")
    tab.wait("!!document.getElementById('name') && !!document.body && !document.body.dataset.left")
    tab.type_into("name", name)
    tab.type_into("password", password)
    tab.js("document.body.dataset.left = '1'")    # the next page is a new document
    tab.click("form button[type=submit]")
    tab.wait("!!document.body && !document.body.dataset.left && document.readyState == 'complete'")


@pytest.fixture(scope="module")
def admin(site):
    gw, _, browser = site
    tab = browser.tab(*SIZES["desktop"])
    login(tab, gw.url, "root", PW["root"])
    tab.wait("!!document.getElementById('meters')")
    return tab


def shot(tab, path):
    """A screenshot of a tab in front (a background tab may never paint a frame)."""
    tab.call("Page.bringToFront")
    return tab.screenshot(path)


def fetch(tab, path):
    """[status, content type, first 20,000 characters] of a same-origin GET, with the tab's cookie."""
    return tab.js("fetch(%s).then(r => r.text().then(t => [r.status, r.headers.get("
                  "'content-type'), t.slice(0, 20000)]))" % json.dumps(path))


def test_log_in_and_see_the_fleet(site, admin, artifacts):
    gw, fleet, browser = site
    ids = admin.js("[...document.querySelectorAll('#meters tbody a')].map(a => a.textContent)")
    assert ids == [m.id for m in fleet.meters]
    assert admin.text("count-online") == "2"
    shot(admin, artifacts / "console_fleet_desktop.png")
    phone = browser.tab(*SIZES["phone"])
    phone.goto(gw.url + "/")
    phone.wait("!!document.getElementById('meters')")
    # the table scrolls inside its box on a phone; the page itself does not
    assert phone.js("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, artifacts / "console_fleet_phone.png")
    # every form field has a label
    assert admin.js("[...document.querySelectorAll('input:not([type=hidden]),select,textarea')]"
                    ".every(e => document.querySelector('label[for=\"' + e.id + '\"]'))")


def test_a_live_value_changes_on_the_meter_page(site, admin, artifacts):
    gw, fleet, _ = site
    admin.goto(gw.url + "/meters/m-002")
    first = admin.text("live-t")
    admin.wait("Number(document.body.dataset.liveUpdates || 0) >= 2", 30)
    assert admin.text("live-t") != first
    v = float(admin.text("voltage"))
    assert 100 < v < 300 and round(v, 1) == v       # the analog meter's value, rounded
    admin.wait("!!document.querySelector('#chart canvas')", 20)     # uPlot drew the chart
    shot(admin, artifacts / "console_meter_desktop.png")


def test_vend_a_token_and_see_it_applied(site, admin, artifacts):
    gw, fleet, browser = site
    admin.goto(gw.url + "/vend?meter=m-001")
    admin.type_into("amount", "250.00")
    admin.click("#vend-form button[type=submit]")
    admin.wait("!!document.getElementById('token')")
    token = admin.text("token")
    assert len(token.split()) == 3 and admin.text("receipt-amount") == "INR 250.00"
    url = admin.js("location.href")
    assert wait_until(lambda: admin.goto(url) or admin.text("stage") == "applied", 60), \
        admin.text("stage")
    assert api(gw.url, "/api/meters/m-001/credit")["accepted_total"] == 25000
    shot(admin, artifacts / "console_receipt_desktop.png")
    phone = browser.tab(*SIZES["phone"])
    phone.goto(url)
    shot(phone, artifacts / "console_receipt_phone.png")


def test_edit_a_tariff_a_bad_value_refused_inline(site, admin, artifacts):
    gw, _, _ = site
    admin.goto(gw.url + "/tariffs/tou")
    admin.js("document.getElementById('f-rates').value = ''")   # the form: a person types
    admin.type_into("f-rates", "peak = nine")
    admin.click("#tariff-form button[type=submit]")
    admin.wait("!!document.getElementById('form-error')")
    assert "invalid tariff" in admin.text("form-error") and "nine" in admin.text("form-error")
    assert admin.js("document.getElementById('f-rates').value") == "peak = nine"   # kept
    bad = dict(TOU, rates={"peak": "nine", "std": 6})
    admin.js("document.getElementById('doc').value = %s" % json.dumps(json.dumps(bad)))
    admin.click("#doc-form button[type=submit]")
    admin.wait("!!document.getElementById('doc-error')")
    assert "invalid tariff" in admin.text("doc-error")
    shot(admin, artifacts / "console_tariff_error_desktop.png")
    assert api(gw.url, "/api/tariffs/tou")["spec"]["rates"]["peak"] == "9.5"
    good = dict(TOU, rates={"peak": "9.75", "std": 6})
    admin.js("document.getElementById('doc').value = %s" % json.dumps(json.dumps(good)))
    admin.click("#doc-form button[type=submit]")
    admin.wait("!!document.getElementById('saved')")
    assert api(gw.url, "/api/tariffs/tou")["spec"]["rates"]["peak"] == "9.75"


def test_make_a_bill_and_download_the_invoice(site, admin, artifacts):
    gw, _, _ = site
    period = time.strftime("%Y-%m", time.gmtime(time.time() + 330 * 60))
    admin.goto(gw.url + "/bills?meter=m-001&period=" + period)
    admin.wait("!!document.getElementById('bill')")
    assert "Prepaid reconciliation" in admin.text("bill") and "Fixed charge" in admin.text("bill")
    admin.click("#make-invoice")
    admin.wait("!!document.querySelector('#invoices .invoice-pdf')")
    shot(admin, artifacts / "console_bill_desktop.png")
    href = admin.js("document.querySelector('#invoices .invoice-pdf').getAttribute('href')")
    status, ctype, body = fetch(admin, href)
    assert status == 200 and ctype == "application/pdf" and body.startswith("%PDF")


def test_acknowledge_an_alert(site, admin, artifacts):
    gw, _, _ = site
    admin.goto(gw.url + "/alerts")
    admin.wait("!!document.querySelector('#alerts form button')", 30)
    alerts = api(gw.url, "/api/alerts")["alerts"]
    assert alerts and all(a["raised"] <= time.time() + 1 for a in alerts)   # none "since" later
    row = admin.js("document.querySelector('#alerts form').closest('tr').id")
    admin.click("#alerts form button")
    admin.wait("!!document.getElementById('acked')")
    alert_id = int(row.split("-")[1])
    got = [a for a in api(gw.url, "/api/alerts?state=all")["alerts"] if a["id"] == alert_id][0]
    assert got["acknowledged_by"] == "root"
    shot(admin, artifacts / "console_alerts_desktop.png")


def test_export_csv(site, admin):
    status, ctype, body = fetch(admin, "/?format=csv")
    assert status == 200 and ctype.startswith("text/csv")
    assert body.splitlines()[0].startswith("meter,name,group") and "m-002" in body
    status, ctype, body = fetch(admin, "/meters/m-001/readings.csv")
    assert status == 200 and body.startswith("start (epoch),start (local),Wh")
    status, _, body = fetch(admin, "/audit?format=csv")
    assert status == 200 and "topup" in body and "put_tariff" in body


def test_the_viewer_is_refused_a_write_and_nothing_changes(site, artifacts):
    gw, _, _ = site
    b = Browser()
    try:
        tab = b.tab(*SIZES["desktop"])
        login(tab, gw.url, "vic", PW["vic"])
        tab.wait("!!document.getElementById('meters')")
        tab.goto(gw.url + "/tariffs/tou")
        assert tab.js("document.getElementById('doc-form')") is None   # no form to edit
        csrf = tab.js("document.querySelector('input[name=csrf]').value")
        status = tab.js("fetch('/tariffs/tou', {method: 'POST', headers: {'Content-Type': "
                        "'application/x-www-form-urlencoded'}, body: new URLSearchParams("
                        "{csrf: %s, doc: '{\"rates\": {\"x\": 1}, \"default\": \"x\"}'})})"
                        ".then(r => r.status)" % json.dumps(csrf))
        assert status == 403
        assert api(gw.url, "/api/tariffs/tou")["spec"]["rates"]["peak"] == "9.75"
        tab.goto(gw.url + "/vend")
        assert "viewer role may not" in tab.text("error")
        shot(tab, artifacts / "console_viewer_refused_desktop.png")
    finally:
        b.close()


def test_a_form_posted_without_its_csrf_token_is_refused(site, admin):
    gw, _, _ = site
    admin.goto(gw.url + "/tariffs/tou")
    admin.js("document.querySelector('#doc-form input[name=csrf]').remove()")
    admin.js("document.getElementById('doc').value = '{\"rates\": {\"x\": 1}, \"default\": \"x\"}'")
    admin.click("#doc-form button[type=submit]")
    admin.wait("!!document.getElementById('error')")
    assert "CSRF" in admin.text("error")
    assert api(gw.url, "/api/tariffs/tou")["spec"]["rates"]["peak"] == "9.75"


def test_six_wrong_passwords_lock_the_login(site, artifacts):
    gw, _, _ = site
    b = Browser()
    try:
        tab = b.tab(*SIZES["phone"])
        for _ in range(6):
            login(tab, gw.url, "locky", "not-the-password")
            tab.wait("!!document.getElementById('login-error')")
        assert "too many wrong passwords" in tab.text("login-error")
        login(tab, gw.url, "locky", PW["locky"])
        tab.wait("!!document.getElementById('login-error')")
        assert "too many wrong passwords" in tab.text("login-error")
        shot(tab, artifacts / "console_locked_phone.png")
    finally:
        b.close()


def test_the_gateway_logged_no_traceback(site):
    """Ordinary refusals (401, 403, 404, 409) are answers, not crashes."""
    gw, _, _ = site
    assert "Traceback" not in gw.log(), gw.log()[-3000:]
