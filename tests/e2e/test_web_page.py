"""The meter's own page in a real browser: headless Chromium (DevTools over a pipe) against
the real firmware on the unix port. Screenshots go to artifacts/web_*.png.

Tests run in file order against one meter: top-ups first, the lockout after them, the
admin PIN gate last (its own backoff is checked at the very end)."""
import gzip
import json
import re

import pytest

import cdp
import webmeter
from waits import wait_until

MOBILE = (390, 844)


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    yield from webmeter.module_meter(tmp_path_factory, "webpage")


@pytest.fixture(scope="module")
def browser():
    b = cdp.Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def tab(browser, meter):
    t = browser.tab(*MOBILE)
    t.goto(meter.url + "/")
    return t


@pytest.fixture(scope="module")
def codes():
    """Reference-encoder tokens for the meter's key, in counter order: 2, 5, 7 and 3 units."""
    out, count = [], 0
    for v in (2, 5, 7, 3):
        code, count = webmeter.token(v, count)
        out.append(code)
    return out


def credit_of(text):
    return float(re.search(r"-?\d+\.\d\d", text).group())


def test_page_renders_live_values_and_updates_without_reload(tab, meter, codes, artifacts):
    v = float(tab.text("v"))
    assert 200 < v < 260, v                      # the simulated 230 V mains
    assert 49 < float(tab.text("hz")) < 51
    assert tab.text("relay") == "Supply ON"
    assert tab.text("credit") == "20.00 INR"
    assert tab.js("document.querySelector('#day svg path.bar') !== null")
    # change the meter behind the page's back; the page must follow without a reload
    tab.js("window.stillHere = 1")
    st, r = meter.json("POST", "/api/token", {"code": codes[0]})
    assert st == 200 and r["result"] == "accepted", r
    tab.wait("document.getElementById('credit').textContent === '22.00 INR'", timeout=10)
    assert tab.js("window.stillHere") == 1
    tab.screenshot(artifacts / "web_page.png")


def test_valid_token_raises_displayed_credit(tab, codes, artifacts):
    before = credit_of(tab.text("credit"))
    tab.type_into("code", codes[1][:3] + " " + codes[1][3:6] + " " + codes[1][6:])
    tab.click("#go")
    msg = tab.wait("!document.getElementById('msg').hidden && "
                   "document.getElementById('msg').textContent")
    assert msg.startswith("Accepted: 5.00 INR added"), msg
    assert tab.js("document.getElementById('msg').className") == "msg ok"
    after = credit_of(tab.wait(
        "(function(){var t=document.getElementById('credit').textContent;"
        "return parseFloat(t) > %f ? t : ''})()" % before))
    assert after == pytest.approx(before + 5.00)
    assert tab.js("document.getElementById('code').value") == ""
    tab.screenshot(artifacts / "web_token_ok.png")


def test_used_token_says_already_used(tab, codes):
    credit = tab.text("credit")
    tab.type_into("code", codes[1])
    tab.click("#go")
    msg = tab.wait("document.getElementById('msg').textContent.indexOf('already') >= 0 && "
                   "document.getElementById('msg').textContent")
    assert "already been used" in msg or "already used" in msg, msg
    assert tab.text("credit") == credit


def test_without_javascript_values_show_and_topup_works(browser, meter, codes, artifacts):
    t = browser.tab(*MOBILE, javascript=False)
    t.goto(meter.url + "/")
    assert 200 < float(t.text("v")) < 260
    assert re.fullmatch(r"\d+", t.text("w"))
    assert credit_of(t.text("credit")) > 0
    assert t.js("document.querySelectorAll('#events li').length") > 0
    before = credit_of(t.text("credit"))
    t.js("document.getElementById('code').value = %s" % json.dumps(codes[2]))
    t.js("document.getElementById('topup').submit()")    # a plain form post, no page script
    t.wait("document.getElementById('msg') && !document.getElementById('msg').hidden")
    assert t.text("msg").startswith("Accepted: 7.00 INR added"), t.text("msg")
    assert credit_of(t.text("credit")) == pytest.approx(before + 7.00)
    t.screenshot(artifacts / "web_nojs.png")


def test_wrong_codes_lock_entry_with_countdown(tab, artifacts):
    for k in range(3):
        tab.js("document.getElementById('msg').textContent = ''")
        tab.type_into("code", "123456789")
        tab.click("#go")
        tab.wait("document.getElementById('msg').textContent")   # the meter's answer
    lock = tab.wait("!document.getElementById('lock').hidden && "
                    "document.getElementById('lock').textContent")
    n0 = int(re.search(r"(\d+) s", lock).group(1))
    assert n0 > 0 and "locked" in lock
    assert tab.js("document.getElementById('go').disabled") is True
    tab.screenshot(artifacts / "web_lockout.png")
    tab.wait(r"+(/(\d+) s/.exec(document.getElementById('lock').textContent) || [0, %d])[1]"
             " < %d" % (n0, n0))
    n1 = int(re.search(r"(\d+) s", tab.text("lock")).group(1))
    assert n1 < n0                                   # it counts down, live
    # when the lock ends the entry opens again by itself
    tab.wait("document.getElementById('lock').hidden && "
             "!document.getElementById('go').disabled", timeout=n1 + 5)


def test_page_weight_within_budget(meter):
    st, html = meter.get("/")
    assert st == 200
    css = meter.get("/s.css")[1]
    js = meter.get("/app.js")[1]
    wire = len(html) + len(css) + len(js)
    gz = len(gzip.compress(html, 9)) + len(css) + len(js)
    print("\nweb page: html %d B as streamed (%d B gzipped), css.gz %d B, js.gz %d B; "
          "total on the wire %d B, all gzipped %d B" % (len(html), len(gzip.compress(html, 9)),
                                                       len(css), len(js), wire, gz))
    assert gz <= 12 * 1024 and wire <= 12 * 1024
    assert b"http://" not in html and b"https://" not in html   # no external assets


def test_admin_pin_gate(browser, meter, artifacts):
    st, r = meter.json("GET", "/api/admin/settings")
    assert st == 401
    t = browser.tab(*MOBILE)
    t.goto(meter.url + "/admin")
    assert t.js("document.getElementById('admin').hidden") is True
    t.type_into("pin", "0000")
    t.click("#go")
    assert "Wrong PIN" in t.wait("!document.getElementById('msg').hidden && "
                                 "document.getElementById('msg').textContent")
    assert t.js("document.getElementById('admin').hidden") is True
    t.type_into("pin", webmeter.PIN)
    t.click("#go")
    t.wait("!document.getElementById('admin').hidden")
    t.wait("document.querySelector('[name=\"power.limit_w\"]').value === '0'")
    assert "tariff" in t.text("tariff")
    # a bad value: clear message, nothing changes on flash
    flash = (meter.root / "config.json").read_text()
    t.js("document.querySelector('[name=\"power.limit_w\"]').value = '-5'")
    t.click("form.set button")
    msg = t.wait("document.getElementById('msg').textContent.indexOf('Not saved') >= 0 && "
                 "document.getElementById('msg').textContent")
    assert "power.limit_w" in msg
    assert (meter.root / "config.json").read_text() == flash
    # a good one is persisted
    t.js("document.querySelector('[name=\"power.limit_w\"]').value = '3000'")
    t.click("form.set button")
    t.wait("document.getElementById('msg').textContent.indexOf('Saved') === 0")
    assert json.loads((meter.root / "config.json").read_text())["power"]["limit_w"] == 3000
    t.screenshot(artifacts / "web_admin.png")
    # the session is per tab (a header, not a cookie): plain requests stay locked out
    assert meter.json("POST", "/api/admin/relay", {"state": "open"})[0] == 401
    # with the tab's session, the owner's relay override works and the coil follows
    auth = {"Authorization": "Bearer " + t.js("sessionStorage.getItem('tok')")}
    st, r = meter.json("POST", "/api/admin/relay", {"state": "open"}, headers=auth)
    assert st == 200 and r["ok"], r
    wait_until(lambda: (meter.root / "relay").read_text() == "0", 5)
    assert (meter.root / "relay").read_text() == "0"
    assert meter.json("GET", "/api/live")[1]["relay"]["reason"] == "manual"
    assert meter.json("POST", "/api/admin/relay", {"state": "sideways"}, headers=auth)[0] == 400
    st, r = meter.json("POST", "/api/admin/relay", {"state": "auto"}, headers=auth)
    assert st == 200 and r["ok"], r
    wait_until(lambda: (meter.root / "relay").read_text() == "1", 10)
    assert (meter.root / "relay").read_text() == "1"


def test_admin_pin_backs_off(meter):
    locked = 0
    for _ in range(5):
        st, r = meter.json("POST", "/api/admin/login", {"pin": "9999"})
        assert st == 403 and "session" not in r
        locked = r["locked_s"]
    assert locked > 0
    st, r = meter.json("POST", "/api/admin/login", {"pin": webmeter.PIN})
    assert st == 403 and r["locked_s"] > 0          # even the right PIN waits out the lock
    assert "pinlock" in [p.name for p in meter.root.iterdir()]   # survives a reboot
