"""What the consumer page once left in English (issue 18), in Hindi and Swahili, against the
real firmware on the unix port in headless Chromium: the network and clock state and the
sync status line, a configuration error, a bad tariff's problems (page and admin page),
and the admin page with its answers (wrong PIN, a refused value, the relay state). The
language choice (?lang=, cookie, web.lang, browser) reaches the admin page too. Screenshots:
artifacts/web_<lang>_<admin|net|config|tariff|admin_tariff>.png."""
import http.client
import json
import re

import pytest

import cdp
import webmeter
from host_tools.webassets import catalogue

FOREIGN = ("hi", "sw")


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    # a WiFi network that is not in range and a server behind it: the page has a network
    # state (joining, not found) and the sync status (offline, records to send) to say
    yield from webmeter.module_meter(tmp_path_factory, "webi18n", wifi={"ssid": "site-ap"},
                                     mqtt={"host": "127.0.0.1", "port": webmeter.free_port()})


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A meter whose config.json is refused at boot: supply held off, problems listed."""
    yield from webmeter.module_meter(tmp_path_factory, "webi18nbad", power={"hold_s": 0})


# a tariff written to the meter with three mistakes: a rate with four decimals, a date that
# does not exist and an hour that does not exist (prepay/tariff_parse.py); as problem triples
BAD_TARIFF = {"rates": {"std": 6, "peak": "9.1234"}, "default": "std",
              "holidays": ["2025-02-30"],
              "windows": [{"rate": "std", "from": "25:00", "to": "06:00"}]}
TARIFF_PROBLEMS = [["tariff.rates.peak", "decimals", ["'9.1234'"]],
                   ["tariff.holidays[0]", "date", ["'2025-02-30'"]],
                   ["tariff.windows[0].from", "time", ["'25:00'", "23:59"]]]


@pytest.fixture(scope="module")
def bad_tariff(tmp_path_factory):
    """A meter whose config.json holds BAD_TARIFF: refused at boot, supply held off."""
    yield from webmeter.module_meter(tmp_path_factory, "webi18ntariff", tariff=BAD_TARIFF)


def said(w, problems):
    """Each problem as the page says it: the key, then the catalogue's phrase."""
    return [key + ": " + w["cfg." + code] % tuple(vals) for key, code, vals in problems]


@pytest.fixture(scope="module")
def browser():
    b = cdp.Browser()
    yield b
    b.close()


def raw(meter, method, path, body=None, headers=()):
    c = http.client.HTTPConnection("127.0.0.1", meter.port, timeout=10)
    h = dict(headers, Host="127.0.0.1")
    if body is not None:
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body, h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def english_words():
    return set(catalogue("en").values())


@pytest.mark.parametrize("lang", FOREIGN)
def test_network_and_sync_state_in_the_language(browser, meter, lang, artifacts):
    w = catalogue(lang)
    net = {w[k] for k in w if k.startswith("net.") and "%" not in w[k]}
    t = browser.tab(390, 844)
    t.goto("%s/?lang=%s" % (meter.url, lang))
    # the station tries to join a network that is not there: joining, then not found
    said = t.wait("document.getElementById('net').textContent")
    assert said in net and said not in english_words(), said
    assert t.text("clk") == w["clk.rtc"]        # the simulated board's clock is kept
    # the live update (the cookie the pick set) keeps it in the language
    t.wait("document.getElementById('net').textContent === %r"
           % w["net.201"], timeout=30)
    stat = t.text("stat")
    assert w["stat.offline"] in stat, stat
    assert re.search(re.escape(w["stat.backlog"]).replace("%d", r"\d+"), stat), stat
    t.screenshot(artifacts / ("web_%s_net.png" % lang))
    # /api/status keeps the English words for operators and tools
    st = meter.json("GET", "/api/status")[1]
    assert st["net"]["state"] in ("connecting", "AP not found")


@pytest.mark.parametrize("lang", ("en",) + FOREIGN)
def test_config_error_in_the_language(browser, broken, lang, artifacts):
    w = catalogue(lang)
    t = browser.tab(390, 844)
    t.goto("%s/?lang=%s" % (broken.url, lang))
    items = t.js("Array.prototype.map.call(document.querySelectorAll('.alert li'),"
                 "function(e){return e.textContent})")
    # the setting's name, then the catalogue's phrase with the values
    assert items == ["power.hold_s: " + w["cfg.range"] % (1, 86400, 0)], items
    if lang == "en":
        assert items == ["power.hold_s: must be 1..86400 (got 0)"]   # the operator's words
    assert w["err.config"] in t.js("document.querySelector('.alert p').textContent")
    assert t.text("why") == w["why.config"]
    t.screenshot(artifacts / ("web_%s_config.png" % lang))
    # the console and the status say it in English
    st = broken.json("GET", "/api/status")[1]
    assert st["config_errors"] == [["power.hold_s", "range", [1, 86400, 0]]]


@pytest.mark.parametrize("lang", ("en",) + FOREIGN)
def test_tariff_problems_in_the_language(browser, bad_tariff, lang, artifacts):
    """The tariff parser's detail of each problem, not only the sentence around it, in the
    consumer's language: on the page and on the admin page, where the owner learns why no
    setting can be saved. The operator's channels keep the English words."""
    w = catalogue(lang)
    want = said(w, TARIFF_PROBLEMS)
    if lang == "en":
        assert want == [
            "tariff.rates.peak: '9.1234' is not a decimal with at most 3 decimals",
            "tariff.holidays[0]: '2025-02-30' is not a date YYYY-MM-DD",
            "tariff.windows[0].from: '25:00' is not a time HH:MM (00:00-23:59)"]
    else:   # every phrase is the language's own, with none of English's words around it
        assert not set(want) & set(said(catalogue("en"), TARIFF_PROBLEMS))
    t = browser.tab(390, 844)
    t.goto("%s/?lang=%s" % (bad_tariff.url, lang))
    items = t.js("Array.prototype.map.call(document.querySelectorAll('.alert li'),"
                 "function(e){return e.textContent})")
    assert items == want, items
    assert t.text("why") == w["why.config"]
    t.screenshot(artifacts / ("web_%s_tariff.png" % lang))
    t.goto("%s/admin?lang=%s" % (bad_tariff.url, lang))
    login(t, webmeter.PIN)
    t.wait("!document.getElementById('problems').hidden")
    assert t.js("document.querySelector('#problems p').textContent") == w["a.problems"]
    items = t.js("Array.prototype.map.call(document.querySelectorAll('#problist li'),"
                 "function(e){return e.textContent})")
    assert items == want, items
    # a setting the owner may change is refused for the stored tariff, in the language too
    t.js("document.querySelector('[name=\"power.limit_w\"]').value = '500'")
    t.click("form.set button")
    t.wait("document.getElementById('msg').textContent === %r"
           % (w["adm.notsaved"] % "; ".join(want)))
    t.screenshot(artifacts / ("web_%s_admin_tariff.png" % lang))
    t.click("#f-logout button")
    t.wait("!document.getElementById('login').hidden")
    # the status keeps the triples; the meter says them in English to its console
    assert bad_tariff.status()["config_errors"] == TARIFF_PROBLEMS


def login(t, pin):
    t.type_into("pin", pin)
    t.click("#go")


@pytest.mark.parametrize("lang", FOREIGN)
def test_admin_page_in_the_language(browser, meter, lang, artifacts):
    w = catalogue(lang)
    t = browser.tab(390, 844)
    t.goto("%s/admin?lang=%s" % (meter.url, lang))
    assert t.js("document.documentElement.lang") == lang
    assert t.js("document.title") == w["a.title"]
    assert t.text("h-login") == w["a.login"] and t.text("go") == w["a.go"]
    assert t.js("document.querySelector('label[for=pin]').textContent") == w["a.pin"]
    # the meter's answers follow the pick (the cookie /admin?lang= set)
    login(t, "0000")
    assert t.wait("!document.getElementById('msg').hidden && "
                  "document.getElementById('msg').textContent") == w["adm.wrong"]
    login(t, webmeter.PIN)
    t.wait("!document.getElementById('admin').hidden")
    t.wait("document.getElementById('relaynow').textContent !== ''")
    assert t.text("relaynow") == w["a.onauto"]
    assert t.js("document.getElementById('problems').hidden")    # a sound config: none
    assert t.js("document.getElementById('wifi.password').textContent") == w["a.unset"]
    # a value the page itself refuses, and one the meter refuses: both in the language
    t.js("document.querySelector('[name=\"power.limit_w\"]').value = '1.5'")
    t.click("form.set button")
    assert t.wait("document.getElementById('msg').textContent") == (
        w["adm.notsaved"] % (w["a.int"] % "power.limit_w"))
    t.js("document.querySelector('[name=\"power.limit_w\"]').value = '-5'")
    t.click("form.set button")
    want = w["adm.notsaved"] % ("power.limit_w: " + w["cfg.range"] % (0, 1000000, -5))
    t.wait("document.getElementById('msg').textContent === %r" % want)
    t.screenshot(artifacts / ("web_%s_admin.png" % lang))
    t.click("#f-logout button")
    t.wait("!document.getElementById('login').hidden")


def test_admin_page_hindi_draws_devanagari(browser, meter):
    t = browser.tab(390, 844)
    t.goto("%s/admin?lang=hi" % meter.url)
    t.call("DOM.enable")
    t.call("CSS.enable")
    root = t.call("DOM.getDocument")["root"]["nodeId"]
    node = t.call("DOM.querySelector", {"nodeId": root, "selector": "#h-login"})["nodeId"]
    names = [f["familyName"] for f in
             t.call("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]
    assert any("Devanagari" in n or "Noto" in n for n in names), names


def test_admin_language_from_cookie_setting_and_browser(meter, tmp_path_factory):
    import gzip

    def lang_of(headers, path="/admin"):
        st, h, body = raw(meter, "GET", path, headers=headers)
        assert st == 200, body
        return re.search(rb'<html lang="(\w+)">', gzip.decompress(body)).group(1).decode()
    assert lang_of({"Accept-Language": "sw-KE,sw;q=0.9"}) == "sw"
    assert lang_of({"Cookie": "lang=hi", "Accept-Language": "sw"}) == "hi"
    assert lang_of({}) == "en"
    st, h, _ = raw(meter, "GET", "/admin?lang=sw")
    assert h["Set-Cookie"].startswith("lang=sw;")
    assert raw(meter, "GET", "/admin?lang=xx")[0] == 400
    # the API's answers follow the same choice: a wrong PIN in Swahili, from the cookie
    st, _, body = raw(meter, "POST", "/api/admin/login", {"pin": "1111"},
                      {"Cookie": "lang=sw", "Origin": "http://127.0.0.1"})
    assert st == 403 and json.loads(body)["message"] in (
        catalogue("sw")["adm.wrong"],
        catalogue("sw")["adm.locked"] % json.loads(body)["locked_s"])


def test_admin_language_from_the_meters_setting(tmp_path_factory):
    import gzip
    gen = webmeter.module_meter(tmp_path_factory, "webi18nset", web={"lang": "hi"})
    m = next(gen)
    try:
        st, h, body = raw(m, "GET", "/admin", headers={"Accept-Language": "sw"})
        assert b'<html lang="hi">' in gzip.decompress(body)
    finally:
        next(gen, None)
