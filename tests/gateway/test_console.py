"""The operator console over real HTTP against a real store, SQLite and PostgreSQL (the
`module_db`/`db` fixtures, tests/conftest.py): accounts (scrypt), sessions, CSRF, login
lockout with backoff, roles, the append-only audit log, and the pages' reads and writes going
through the API's own operations."""
import csv
import io
import re
import subprocess
import sys
import time

import pytest

from gateway import vend
from gateway.api import make_api
from gateway.console import accounts, mount, passwords
from gateway.service import ApiServer
from gateway.outbox import Outbox
from gateway.storage import transactions
from gateway.store import Store
from broker import free_port
from console_client import Browser
from databases import connect, dump, integrity_error

KEY = "k-" + "console" * 4
TOKEN_KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"
T0 = 1_717_200_000 - 1_717_200_000 % 86400
PW = {"root": "admin-pass-1", "vera": "vendor-pass-1", "vic": "viewer-pass-1"}
TOU = {"rates": {"peak": "9.5", "offpeak": 4}, "default": "offpeak",
       "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}]}


def rec(seq, wh, t, credit=10000, flags=0):
    return (seq, t, wh, 5000, 2300, 2000, 980, 5000, credit, flags)


@pytest.fixture(scope="module")
def site(module_db):
    store = Store(module_db(), utc_offset_min=330)
    store.put_tariff("tou", TOU)
    store.register_meter("m-1", name="Flat 1", grp="block-a", tariff="tou", customer="=HYPERLINK(1)",
                         token_key=TOKEN_KEY, token_starting_code=123456789)
    store.register_meter("m-2", name="Flat 2", grp="block-b")
    store.insert_records("m-1", [rec(s + 1, 10 * s, T0 + 60 * s) for s in range(120)])
    store.insert_records("m-2", [rec(1, 0, T0 + 60, credit=100)])   # low credit: an alert
    for name, role in (("root", "admin"), ("vera", "vendor"), ("vic", "viewer")):
        accounts.add(store, name, role, PW[name])
    api = make_api(store, None, [KEY], deliver=lambda m, tx, code: True)
    mount(api, store, currency="INR", decimals=2)
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    yield srv.url, store
    srv.stop()
    store.close()


def browser(site, who=None):
    b = Browser(site[0])
    if who:
        st, _ = b.login(who, PW[who])
        assert st == 303, "login of %s failed" % who
    return b


def audit_rows(store, action=None):
    return [r for r in store.query("SELECT * FROM audit_log ORDER BY id")
            if action is None or r["action"] == action]


# -- passwords -------------------------------------------------------------------------------
def test_passwords_are_scrypt_hashes_with_their_own_salt():
    a, b = passwords.hash_password("same password"), passwords.hash_password("same password")
    assert a.startswith("scrypt$16384$8$1$") and a != b
    assert passwords.verify("same password", a) and not passwords.verify("other password", a)
    assert not passwords.verify("same password", None)            # unknown name: a dummy check
    assert not passwords.verify("same password", "scrypt$x$y$z$00$00")   # malformed: no login
    with pytest.raises(passwords.PasswordError, match="at least 10"):
        passwords.check_new("short")


def test_the_store_holds_no_password_or_session_cookie(site):
    b = browser(site, "root")
    token = next(c.value for c in b.jar if c.name == "pm_session")
    text = dump(site[1].path)
    assert PW["root"] not in text and token not in text


# -- sessions and cookies ------------------------------------------------------------------------
def test_pages_need_a_session(site):
    b = browser(site)
    st, _ = b.get("/meters/m-1")
    assert st == 302 and b.headers["Location"] == "/login?next=/meters/m-1"
    st, _ = b.request("POST", "/vend", {"meter": "m-1", "amount": "1"})
    assert st == 401


def test_login_sets_an_httponly_samesite_cookie_and_logout_ends_it(site):
    b = Browser(site[0])
    b.get("/login")
    st, _ = b.post("/login", {"name": "root", "password": PW["root"], "next": "//evil.example/"})
    assert st == 303 and b.headers["Location"] == "/"      # no open redirect
    cookie = [c for c in b.headers.get_all("Set-Cookie") if c.startswith("pm_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie                            # plain HTTP here
    st, page = b.get("/")
    assert st == 200 and "root (admin)" in page
    assert "default-src 'self'" in b.headers["Content-Security-Policy"]
    st, _ = b.post("/logout", {})
    assert st == 303
    assert b.get("/")[0] == 302


def test_cookies_are_secure_when_the_console_is_behind_tls(db):
    store = Store(db())
    accounts.add(store, "root", "admin", PW["root"])
    api = make_api(store)
    mount(api, store, secure_cookies=True)
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    try:
        b = Browser(srv.url)
        b.get("/login")
        login = b.headers["Set-Cookie"]
        assert "Secure" in login and "HttpOnly" in login
        # a client sends a Secure cookie over TLS only: this test (plain HTTP) sends it itself
        st, _ = b.request("POST", "/login", {"name": "root", "password": PW["root"],
                                             "csrf": b.csrf},
                          headers={"Cookie": login.split(";")[0]})
        assert st == 303 and all("Secure" in c for c in b.headers.get_all("Set-Cookie"))
    finally:
        srv.stop()
        store.close()


def test_the_login_form_needs_its_csrf_token(site):
    b = Browser(site[0])
    b.get("/login")
    st, page = b.post("/login", {"name": "root", "password": PW["root"]}, csrf=False)
    assert st == 403 and "CSRF" in page and not any(c.name == "pm_session" for c in b.jar)


# -- lockout -------------------------------------------------------------------------------------
def test_six_wrong_passwords_lock_the_login_even_for_the_right_one(site):
    store = site[1]
    accounts.add(store, "lock-me", "viewer", "right-password")
    b = Browser(site[0])
    answers = [b.login("lock-me", "wrong-password")[0] for _ in range(6)]
    assert answers == [401] * 4 + [401, 429]        # the fifth locks; the sixth is refused
    st, page = b.login("lock-me", "right-password")
    assert st == 429 and "too many wrong passwords" in page
    assert not any(c.name == "pm_session" for c in b.jar)


def test_the_lock_backs_off_and_a_right_password_resets_it(db):
    store = Store(db())
    accounts.add(store, "ann", "viewer", "right-password")
    now, locks = 1_000_000, []
    for _ in range(4):
        assert accounts.login(store, "ann", "nope", now) is None
    for _ in range(3):   # each failure after the lock expires doubles it
        assert accounts.login(store, "ann", "nope", now) is None
        until = store.query("SELECT locked_until FROM login_failures WHERE name='ann'")[0][
            "locked_until"]
        locks.append(until - now)
        with pytest.raises(accounts.Locked):
            accounts.login(store, "ann", "right-password", until - 1)
        now = until
    assert locks == [30, 60, 120]
    assert accounts.login(store, "ann", "right-password", now)["role"] == "viewer"
    assert store.query("SELECT * FROM login_failures") == []
    # unknown names lock too (no telling which names exist)
    for _ in range(5):
        accounts.login(store, "nobody", "x", now)
    with pytest.raises(accounts.Locked):
        accounts.login(store, "nobody", "x", now + 1)
    store.close()


# -- CSRF and roles ---------------------------------------------------------------------------------
def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(site):
    b = browser(site, "root")
    before = site[1].tariffs("tou")[0]["spec"]
    n = len(audit_rows(site[1]))
    b.get("/tariffs/tou")
    st, page = b.post("/tariffs/tou", {"doc": '{"rates": {"flat": 1}, "default": "flat"}'},
                      csrf=False)
    assert st == 403 and "CSRF" in page
    st, page = b.request("POST", "/tariffs/tou", {"doc": "{}", "csrf": "forged"})
    assert st == 403
    assert site[1].tariffs("tou")[0]["spec"] == before and len(audit_rows(site[1])) == n


@pytest.mark.parametrize("path,form", [
    ("/tariffs/tou", {"doc": '{"rates": {"flat": 1}, "default": "flat"}'}),
    ("/meters/m-1/relay", {"action": "open", "confirm": "yes"}),
    ("/vend", {"meter": "m-1", "amount": "5", "request_id": "r" * 20}),
    ("/alerts/1/acknowledge", {}),
])
def test_the_viewer_is_refused_every_write_and_nothing_changes(site, path, form):
    b = browser(site, "vic")
    b.get("/")
    tariff = site[1].tariffs("tou")[0]["spec"]
    txs = site[1].query("SELECT count(*) AS n FROM transactions")[0]["n"]
    n = len(audit_rows(site[1]))
    st, page = b.post(path, form)
    assert st == 403 and "viewer role may not" in page
    assert site[1].tariffs("tou")[0]["spec"] == tariff
    assert site[1].query("SELECT count(*) AS n FROM transactions")[0]["n"] == txs
    assert len(audit_rows(site[1])) == n


def test_the_vendor_vends_but_edits_no_tariff_and_sees_no_audit(site):
    b = browser(site, "vera")
    b.get("/tariffs/tou")
    assert b.post("/tariffs/tou", {"doc": "{}"})[0] == 403
    assert b.get("/audit")[0] == 403
    st, page = b.get("/tariffs/tou")
    assert st == 200 and 'name="doc"' not in page and "offpeak" in page   # read only


# -- vending --------------------------------------------------------------------------------------
def test_vending_in_currency_is_idempotent_per_request_and_prints_a_receipt(site):
    b = browser(site, "vera")
    st, page = b.get("/vend?meter=m-1")
    rid = re.search(r'name="request_id" value="([^"]+)"', page).group(1)
    form = {"meter": "m-1", "amount": "120.00", "ref": "cash 1", "request_id": rid}
    st, page = b.post("/vend", form)
    assert st == 303, re.findall(r'role="alert"[^>]*>([^<]*)', page)
    first = b.headers["Location"]
    st, _ = b.post("/vend", form)          # the double submit
    assert st == 303 and b.headers["Location"] == first
    rows = site[1].query("SELECT amount, token FROM transactions WHERE ref='cash 1'")
    assert len(rows) == 1 and rows[0]["amount"] == 12000
    st, page = b.get(first)
    token = str(rows[0]["token"])
    grouped = " ".join(token[i:i + 3] for i in range(0, len(token), 3))
    assert st == 200 and grouped in page and "INR 120.00" in page and "Operator: vera" in page
    audits = [r for r in audit_rows(site[1], "topup") if r["actor"] == "vera"]
    assert len(audits) == 1 and token not in audits[0]["after"]
    st, page = b.get("/vend/history?meter=m-1")
    assert st == 200 and ">delivered<" in page     # deliver() took it: sent, not yet applied


def test_an_expired_topup_is_sent_again_from_the_history_confirmed_and_audited(db):
    store = Store(db())
    store.register_meter("m-1", token_key=TOKEN_KEY, token_starting_code=123456789)
    for name, role in (("vera", "vendor"), ("vic", "viewer")):
        accounts.add(store, name, role, PW[name])
    published = []
    box = Outbox(store, lambda meter_id, kind, **f: published.append(f["id"]) or True,
                 expire_s=60)
    api = make_api(store, None, [KEY], outbox=box)
    mount(api, store, currency="INR", decimals=2)
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    try:
        tx, _ = vend.topup(store, "m-1", 5000, None, None, None, box)
        box.pump(now=time.time() + 120)                 # the meter never answered: expired
        assert transactions.get(store, tx["id"])["status"] == "expired"
        path = "/vend/resend/m-1/%d" % tx["id"]
        viewer, vendor = browser((srv.url,), "vic"), browser((srv.url,), "vera")
        assert viewer.post(path, {"confirm": "yes"})[0] == 403
        st, page = vendor.get("/vend/history?meter=m-1")
        assert st == 200 and 'action="%s"' % path in page and ">expired<" in page
        st, page = vendor.post(path, {})                # not confirmed: nothing queued
        assert st == 400 and "confirm" in page
        assert transactions.get(store, tx["id"])["status"] == "expired" and len(published) == 1
        st, _ = vendor.post(path, {"confirm": "yes"})
        assert st == 303
        assert transactions.get(store, tx["id"])["status"] == "sent"
        assert published == [tx["command_id"]] * 2      # the same command id: credited once
        (a,) = audit_rows(store, "resend")
        assert a["actor"] == "vera" and a["target"] == "m-1/%d" % tx["id"]
        st, page = vendor.post(path, {"confirm": "yes"})   # not expired any more
        assert st == 400 and "only an expired one" in page and len(published) == 2
    finally:
        srv.stop()
        store.close()


@pytest.mark.parametrize("amount,msg", [("12.505", "at most 2 decimal places"),
                                        ("-1", "more than zero"), ("abc", "enter a number"),
                                        ("0", "more than zero"),
                                        ("12.50", "multiple of 100 minor units")])
def test_a_bad_amount_is_refused_inline(site, amount, msg):
    b = browser(site, "vera")
    st, page = b.get("/vend")
    rid = re.search(r'name="request_id" value="([^"]+)"', page).group(1)
    st, page = b.post("/vend", {"meter": "m-1", "amount": amount, "request_id": rid})
    assert st == 400 and msg in page and 'value="%s"' % amount in page


def test_vending_to_an_unknown_meter_says_so(site):
    b = browser(site, "vera")
    b.get("/vend")
    st, page = b.post("/vend", {"meter": "m-404", "amount": "1", "request_id": "x" * 20})
    assert st == 404 and "no meter" in page


# -- tariffs and the audit log ----------------------------------------------------------------------
def test_a_bad_tariff_is_refused_inline_and_a_good_one_is_saved_and_audited(site):
    b = browser(site, "root")
    b.get("/tariffs/tou")
    bad = '{"rates": {"peak": "nine"}, "default": "peak"}'
    st, page = b.post("/tariffs/tou", {"doc": bad})
    assert st == 400 and "invalid tariff" in page and "nine" in page
    assert site[1].tariffs("tou")[0]["spec"] == TOU
    st, page = b.post("/tariffs/tou", {"doc": "{not json"})
    assert st == 400 and "not JSON" in page
    good = dict(TOU, rates={"peak": "10", "offpeak": 4})
    import json
    st, _ = b.post("/tariffs/tou", {"doc": json.dumps(good)})
    assert st == 303 and site[1].tariffs("tou")[0]["spec"]["rates"]["peak"] == "10"
    entry = audit_rows(site[1], "put_tariff")[-1]
    assert entry["actor"] == "root" and entry["target"] == "tou"
    assert json.loads(entry["before"])["rates"]["peak"] == "9.5"
    assert json.loads(entry["after"])["rates"]["peak"] == "10"
    st, page = b.get("/tariffs")
    assert st == 200 and 'href="/meters/m-1"' in page      # which meters use it
    b.get("/tariffs/tou")
    b.post("/tariffs/tou", {"doc": json.dumps(TOU)})


def test_the_audit_log_is_append_only(site):
    refused = integrity_error(site[1].path)
    with connect(site[1].path) as db:   # a client of its own, not the gateway's
        with pytest.raises(refused, match="append-only"):
            db.execute("UPDATE audit_log SET actor='x'")
        with pytest.raises(refused, match="append-only"):
            db.execute("DELETE FROM audit_log")


def test_admins_view_and_export_the_audit_log(site):
    b = browser(site, "root")
    st, page = b.get("/audit?action=login")
    assert st == 200 and "<td>login</td>" in page
    st, text = b.get("/audit?format=csv")
    assert st == 200 and b.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {"who", "what", "before", "after"} <= set(rows[0])


def test_writes_with_an_api_key_are_audited_by_its_fingerprint(site):
    import json
    import urllib.request
    req = urllib.request.Request(site[0] + "/api/meters", method="POST", data=json.dumps(
        {"id": "m-7", "name": "by key"}).encode(), headers={"X-API-Key": KEY,
                                                            "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    entry = audit_rows(site[1], "register")[-1]
    assert entry["actor"].startswith("api-key:") and KEY not in entry["actor"]
    assert "by key" in entry["after"] and KEY not in entry["after"]


# -- pages -------------------------------------------------------------------------------------------
def test_the_fleet_page_shows_money_in_major_units_and_filters_sorts_and_exports(site):
    b = browser(site, "vic")
    st, page = b.get("/")
    assert st == 200 and 'href="/meters/m-1"' in page and "INR 100.00" in page
    assert "UTC+05:30" in page
    st, page = b.get("/?q=flat+2")
    assert 'href="/meters/m-2"' in page and 'href="/meters/m-1"' not in page
    st, page = b.get("/?sort=-id")
    assert page.index('href="/meters/m-2"') < page.index('href="/meters/m-1"')
    st, text = b.get("/?format=csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    m1 = next(r for r in rows if r["meter"] == "m-1")
    assert m1["credit (minor units)"] == "10000" and m1["customer"] == "'=HYPERLINK(1)"


def test_the_meter_page_and_its_readings_csv(site):
    b = browser(site, "vic")
    st, page = b.get("/meters/m-1")
    assert st == 200 and "Flat 1" in page and "/static/uPlot.iife.min.js" in page
    assert "Relay override" not in page                      # a viewer sees no actions
    st, text = b.get("/meters/m-1/readings.csv?from=%d&to=%d" % (T0, T0 + 7200))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert st == 200 and sum(int(r["Wh"]) for r in rows) == 1190
    assert b.get("/meters/nope")[0] == 404


def test_an_admin_acknowledges_an_alert(site):
    b = browser(site, "root")
    st, page = b.get("/alerts?kind=low_credit")
    alert_id = int(re.search(r'action="/alerts/(\d+)/acknowledge"', page).group(1))
    st, _ = b.post("/alerts/%d/acknowledge" % alert_id, {})
    assert st == 303
    row = site[1].query("SELECT acknowledged_by FROM alerts WHERE id=?", (alert_id,))[0]
    assert row["acknowledged_by"] == "root"
    assert audit_rows(site[1], "acknowledge")[-1]["target"] == str(alert_id)


def test_a_bill_of_a_meter_without_a_plan_says_why(site):
    b = browser(site, "root")
    st, page = b.get("/bills?meter=m-2&period=2024-06")
    assert st == 409 and "plan" in page


# -- the command --------------------------------------------------------------------------------------
def test_user_add_reads_the_password_and_refuses_a_short_one(db):
    target = db()
    run = lambda *a, pw: subprocess.run([sys.executable, "-m", "gateway", "user", *a, "--db",
                                         target],
                                        input=pw + "\n", capture_output=True, text=True)
    r = run("add", "boss", "--role", "admin", pw="long-enough-pw")
    assert r.returncode == 0 and "boss (admin)" in r.stdout and "long-enough-pw" not in r.stdout
    r = run("add", "tiny", "--role", "admin", pw="short")
    assert r.returncode == 2 and "at least 10" in r.stderr
    r = run("add", "Bad Name", "--role", "admin", pw="long-enough-pw")
    assert r.returncode == 2 and "operator name" in r.stderr
    r = run("list", pw="")
    assert "boss" in r.stdout and "tiny" not in r.stdout
    store = Store(target)
    assert accounts.login(store, "boss", "long-enough-pw")["role"] == "admin"
    store.close()


# -- customers --------------------------------------------------------------------------------------
def test_customers_import_all_or_nothing_search_link_export_and_vend_by_account(site):
    site[1].register_meter("m-6", token_key=TOKEN_KEY, token_starting_code=123456789)
    b = browser(site, "root")
    b.get("/customers")
    bad = "account,name,address,phone\nA-1,Asha,1 Main St,+91 98450 00001\n,Nobody,,\nA-3,Ravi,,call me\n"
    st, page = b.post("/customers/import", {"csv": bad})
    assert st == 400 and "nothing imported" in page
    assert "row 2: account" in page and "row 3: phone" in page
    assert site[1].query("SELECT count(*) AS n FROM customers")[0]["n"] == 0
    st, page = b.post("/customers/import", {"csv": "name\nx\n"})
    assert st == 400 and "header must name account" in page
    good = "account,name,address,phone\nA-1,Asha,1 Main St,+91 98450 00001\nA-2,Ravi,2 Hill Rd,\n"
    st, _ = b.post("/customers/import", {"csv": good})
    assert st == 303 and b.headers["Location"] == "/customers?imported=2"
    st, page = b.get("/customers?q=hill")
    assert "Ravi" in page and "Asha" not in page
    st, page = b.get("/customers?q=98450")
    assert "Asha" in page and "Ravi" not in page
    b.get("/customers/A-1")
    st, _ = b.post("/customers/A-1/link", {"meter": "m-6"})
    assert st == 303 and site[1].meter("m-6")["customer"] == "A-1"
    st, page = b.post("/customers/A-1/link", {"meter": "m-404"})
    assert st == 404 and "no meter" in page
    assert audit_rows(site[1], "link_customer")[-1]["target"] == "m-6"
    st, page = b.get("/customers?q=m-6")                 # a meter finds its customer
    assert "Asha" in page
    st, text = b.get("/customers?format=csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["account"], r["meters"]) for r in rows] == [("A-1", "m-6"), ("A-2", "")]
    # vending by the customer's account number reaches their one meter
    v = browser(site, "vera")
    st, page = v.get("/vend")
    rid = re.search(r'name="request_id" value="([^"]+)"', page).group(1)
    st, page = v.post("/vend", {"meter": "A-2", "amount": "1", "request_id": rid})
    assert st == 400 and "customer A-2 has no meter" in page
    st, _ = v.post("/vend", {"meter": "A-1", "amount": "1", "request_id": rid})
    assert st == 303 and v.headers["Location"].startswith("/vend/receipt/m-6/")


def test_a_bad_customer_form_is_refused_inline(site):
    b = browser(site, "root")
    b.get("/customers/new")
    st, page = b.post("/customers/save", {"account": "B 1", "name": "", "address": "",
                                          "phone": "x"})
    assert st == 400 and "account: 1-32" in page and "name: required" in page \
        and "phone: digits" in page and 'value="B 1"' in page


def test_the_viewer_cannot_import_customers(site):
    b = browser(site, "vic")
    b.get("/customers")
    st, _ = b.post("/customers/import", {"csv": "account,name\nV-9,Viewer\n"})
    assert st == 403 and site[1].query("SELECT 1 FROM customers WHERE account='V-9'") == []


# -- the API's meter pages (what the fleet page calls) ---------------------------------------------
def test_the_meter_list_pages_searches_filters_and_sorts_in_the_database(site):
    import json
    import urllib.error
    import urllib.request

    def get(query):
        try:
            with urllib.request.urlopen(site[0] + "/api/meters?" + query, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    st, body = get("")
    everyone = [m["id"] for m in body["meters"]]
    assert st == 200 and body["total"] == len(everyone) >= 2 and everyone == sorted(everyone)
    st, body = get("limit=1&offset=1&sort=-id")
    assert body["total"] == len(everyone) and [m["id"] for m in body["meters"]] == \
        sorted(everyone, reverse=True)[1:2]
    assert [m["id"] for m in get("q=FLAT%202")[1]["meters"]] == ["m-2"]      # by name
    assert [m["id"] for m in get("q=block-a")[1]["meters"]] == ["m-1"]       # by group
    assert get("q=%25")[1]["total"] == 0                                      # % is literal
    assert get("status=online")[1]["total"] == 0
    for query, msg in (("status=maybe", "online or offline"), ("sort=colour", "sort must be"),
                       ("limit=0", "limit"), ("offset=-1", "offset"), ("q=" + "x" * 101, "q:")):
        st, body = get(query)
        assert st == 400 and msg in body["error"], (query, body)


def test_a_long_name_locks_too_and_a_refused_key_write_is_not_audited(site):
    store = site[1]
    long_name = "x" * 500
    for _ in range(5):
        accounts.login(store, long_name, "nope")
    with pytest.raises(accounts.Locked):
        accounts.login(store, long_name, "nope")
    import json
    import urllib.error
    import urllib.request
    n = len(audit_rows(store))
    req = urllib.request.Request(site[0] + "/api/billing/plans/bad", method="PUT",
                                 data=json.dumps({"energy": {"type": "x"}}).encode(),
                                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400 and len(audit_rows(store)) == n


def test_a_tariff_edited_in_the_form_keeps_its_other_keys_and_refuses_bad_lines(site):
    store = site[1]
    store.put_tariff("formed", dict(TOU, holidays=["2024-12-25"]))
    b = browser(site, "root")
    st, page = b.get("/tariffs/formed")
    assert st == 200 and "peak = 9.5" in page and "peak all 18:00-22:00" not in page \
        and "peak 18:00-22:00" in page
    form = {"rates": "peak = 9.75\noffpeak = 4", "default": "offpeak",
            "windows": "peak weekday 18:00-22:00\noffpeak weekend", "standing_per_day": "100"}
    st, _ = b.post("/tariffs/formed/form", form)
    assert st == 303
    spec = store.tariffs("formed")[0]["spec"]
    assert spec["rates"] == {"peak": "9.75", "offpeak": "4"} and spec["standing_per_day"] == "100"
    assert spec["windows"] == [{"rate": "peak", "days": ["weekday"], "from": "18:00", "to": "22:00"},
                               {"rate": "offpeak", "days": ["weekend"]}]
    assert spec["holidays"] == ["2024-12-25"]                    # a key the form does not show
    b.get("/tariffs/formed")
    st, page = b.post("/tariffs/formed/form", dict(form, rates="peak: 9"))
    assert st == 400 and "rates line 1" in page and 'id="form-error"' in page
    st, page = b.post("/tariffs/formed/form", dict(form, rates="peak = 9.1234"))
    assert st == 400 and "invalid tariff" in page and "9.1234" in page
    assert store.tariffs("formed")[0]["spec"]["rates"]["peak"] == "9.75"
