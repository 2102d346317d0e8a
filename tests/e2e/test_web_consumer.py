"""The consumer's page as a new user meets it (issue 18), in headless Chromium against the
real firmware on the unix port, at phone (390x844) and desktop sizes, in every shipped
language: what the first screen answers without scrolling (positions from the DOM), the
charts' axes and words, the page without JavaScript, a top-up, the days-left text of a new
meter, the language choice and the settings link without a PIN. Screenshots go to
artifacts/web_<lang>_<size>.png."""
import http.client
import json
import re

import pytest

import cdp
import webmeter
from host_tools.webassets import catalogue, languages

LANGS = languages()
SIZES = {"phone": (390, 844), "desktop": (1366, 900)}
# a time-of-use tariff, so the page has a period, a next period and shading to show
TARIFF = {"name": "Domestic TOU", "rates": {"peak": "950.5", "std": 650, "off": "412.125"},
          "default": "std",
          "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"},
                      {"rate": "off", "from": "22:00", "to": "06:00"}]}
CONSUMER = {"name": "Asha Mwangi", "account": "ACC-20417",
            "buy": "Buy codes at any M-Pesa agent or dial *150*22#"}
# the first screen: credit and days left, supply, price now and its period and the next one,
# spent today and this month, the top-up field and its button
FIRST = ("credit", "days", "relay", "price", "period", "next", "spent_d", "spent_m", "code",
         "go")


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    # no admin PIN provisioned: the settings link gives way to an explanation
    yield from webmeter.module_meter(tmp_path_factory, "webconsumer", tariff=TARIFF,
                                     consumer=CONSUMER, web={"pin_hash": "", "pin_salt": ""})


@pytest.fixture(scope="module")
def browser():
    b = cdp.Browser()
    yield b
    b.close()


def words(lang):
    return catalogue(lang)


def box(tab, element_id):
    return tab.js("(function(){var e=document.getElementById(%r),r=e.getBoundingClientRect();"
                  "return {top:r.top,bottom:r.bottom,left:r.left,right:r.right,w:r.width,"
                  "h:r.height,shown:!!(e.offsetWidth||e.offsetHeight),vh:innerHeight,"
                  "vw:innerWidth}})()" % element_id)


_OPEN = []


def open_page(browser, meter, lang, size, javascript=True):
    """A new tab on the page in `lang`. The previous tabs leave the page first: a phone or
    two poll a meter, not dozens of tabs (the meter serves 6 connections at a time)."""
    while _OPEN:
        _OPEN.pop().call("Page.navigate", {"url": "about:blank"})
    t = browser.tab(*SIZES[size], javascript=javascript)
    t.goto("%s/?lang=%s" % (meter.url, lang))
    _OPEN.append(t)
    return t


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("lang", LANGS)
def test_first_screen_answers_without_scrolling(browser, meter, lang, size, artifacts):
    t = open_page(browser, meter, lang, size)
    w = words(lang)
    assert t.js("document.documentElement.lang") == lang
    assert t.text("h-credit") == w["p.credit"] and t.text("go") == w["p.go"]
    for k in FIRST:
        b = box(t, k)
        assert b["shown"] and b["w"] > 0 and b["h"] > 0, (k, b)
        assert 0 <= b["top"] and b["bottom"] <= b["vh"], (k, b)        # no scrolling
        assert 0 <= b["left"] and b["right"] <= b["vw"], (k, b)
    # the button sits whole beside the field, not cut off at the fold
    go, code = box(t, "go"), box(t, "code")
    assert go["h"] >= 44 and abs(go["top"] - code["top"]) < 8, (go, code)
    # money, not energy: the price now and what was spent, in the meter's currency
    assert re.search(r"\d+\.\d\d INR", t.text("price")), t.text("price")
    assert w["tou." + meter.json("GET", "/api/live")[1]["credit"]["rate"]] == t.text("period")
    assert t.text("next") and re.search(r"\d\d:\d\d", t.text("next"))
    assert re.fullmatch(r"\d+\.\d\d INR", t.text("spent_d"))
    assert re.fullmatch(r"\d+\.\d\d INR", t.text("spent_m"))
    assert "Asha Mwangi" in t.text("who") and "ACC-20417" in t.text("who")
    assert "*150*22#" in t.text("buy")
    # the supply is on, so the reason line does not repeat the header's pill
    assert t.js("document.getElementById('why').hidden") is True
    # the "Now" tiles: full rows (no tile alone), each number on one line with its unit
    rows = t.js("(function(){var ts={};document.querySelectorAll('.grid p').forEach("
                "function(p){var k=Math.round(p.getBoundingClientRect().top);"
                "ts[k]=(ts[k]||0)+1});return Object.values(ts)})()")
    assert len(set(rows)) == 1 and rows[0] > 1, rows
    assert t.js("Array.prototype.every.call(document.querySelectorAll('.grid b'),"
                "function(b){return b.getBoundingClientRect().height < "
                "1.6*parseFloat(getComputedStyle(b).fontSize)})")
    if size == "desktop":
        # the cards use the width: credit and top-up side by side, not a narrow column
        c, tp = box(t, "c-credit"), box(t, "c-top")
        assert abs(c["top"] - tp["top"]) < 2 and tp["left"] > c["right"], (c, tp)
        assert t.js("document.querySelector('main').getBoundingClientRect().width") > 1000
    t.screenshot(artifacts / ("web_%s_%s.png" % (lang, size)))


@pytest.mark.parametrize("lang", LANGS)
def test_charts_have_axes_ticks_summary_and_table(browser, meter, lang):
    t = open_page(browser, meter, lang, "phone")
    w = words(lang)
    t.wait("document.querySelectorAll('#day .bar, #day .cur').length > 0")
    for cid, ticks, rows in (("day", 4, 24), ("mon", 5, 30)):
        q = "document.querySelectorAll('#%s %%s').length" % cid
        assert t.js(q % ".y span") == 3                        # y axis: top, middle, 0
        assert t.js(q % ".x span") == ticks                    # x ticks
        assert t.js(q % "table tr") == rows + 1                # the table view
        cap = t.js("document.querySelector('#%s figcaption').textContent" % cid)
        assert cap.strip(), cid
        top = t.js("document.querySelector('#%s .y span').textContent" % cid)
        assert re.fullmatch(r"\d+\.\d\d kWh", top), top
        # axis words are HTML at the page's type scale, not scaled with the chart's width
        fs = t.js("parseFloat(getComputedStyle(document.querySelector('#%s .x span'))"
                  ".fontSize)" % cid)
        assert 11 <= fs <= 16, fs
    # the 24 h chart: hour ticks, and the dearest and cheapest hours shaded and explained
    assert all(re.fullmatch(r"\d\d:00", s) for s in t.js(
        "Array.prototype.map.call(document.querySelectorAll('#day .x span'),"
        "function(s){return s.textContent})"))
    assert t.js("document.querySelectorAll('#day path.hi, #day path.lo').length") >= 1
    cap = t.js("document.querySelector('#day figcaption').textContent")
    assert w["tou.peak"] in cap and w["tou.off"] in cap, cap


@pytest.mark.parametrize("lang", LANGS)
def test_without_javascript_everything_is_there(browser, meter, lang, artifacts):
    t = open_page(browser, meter, lang, "phone", javascript=False)
    w = words(lang)
    assert t.text("h-top") == w["p.top"]
    assert re.search(r"\d+\.\d\d INR", t.text("credit"))
    assert t.js("document.querySelectorAll('#day table tr').length") == 25
    assert t.js("document.querySelectorAll('#mon .x span').length") == 5
    # <details> opens without a script: the table becomes visible
    t.js("document.querySelector('#day details').open = true")
    assert t.js("document.querySelector('#day table').getBoundingClientRect().height") > 100
    assert t.text("days") in (w["days.none"],) or re.search(r"\d", t.text("days"))
    t.screenshot(artifacts / ("web_%s_nojs.png" % lang))


def test_days_left_for_a_new_meter_says_what_it_needs(browser, meter):
    live = meter.json("GET", "/api/live")[1]
    snap = live["credit"]
    assert snap["days_left"] is None             # a new meter has no spend history yet
    for lang in LANGS:
        t = open_page(browser, meter, lang, "phone")
        w = words(lang)
        text = t.text("days")
        assert text != "unknown"
        need = meter.json("GET", "/api/live")[1]["credit"]["days_need_h"]
        if need:
            assert text == w["days.need"] % need or text == w["days.need"] % (need + 1), text
        else:
            assert text in (w["days.none"],) or re.search(r"\d", text), text


@pytest.mark.parametrize("lang", LANGS)
def test_topup_flow_in_each_language(browser, meter, lang, artifacts):
    t = open_page(browser, meter, lang, "phone")
    w = words(lang)
    code = webmeter.token(1 + LANGS.index(lang), _count[0])
    _count[0] = code[1]
    t.type_into("code", code[0])
    t.click("#go")
    want = w["tok.accepted"] % ("%d.00 INR" % (1 + LANGS.index(lang)))
    msg = t.wait("!document.getElementById('msg').hidden && "
                 "document.getElementById('msg').textContent")
    assert msg == want, (msg, want)
    # the top-up list shows it first, with how it arrived
    first = "%d.00 INR (%s)" % (1 + LANGS.index(lang), w["via.keypad"])
    t.wait("document.querySelector('#topups li') && "
           "document.querySelector('#topups li').textContent.indexOf(%r) >= 0" % first)
    # a wrong code answers in the same language
    t.type_into("code", "123456789")
    t.click("#go")
    t.wait("document.getElementById('msg').textContent.indexOf(%r) === 0"
           % w["tok.invalid"].split(".")[0])
    t.screenshot(artifacts / ("web_%s_topup.png" % lang))


_count = [0]


def test_hindi_renders_with_a_devanagari_font(browser, meter):
    t = open_page(browser, meter, "hi", "phone")
    t.call("DOM.enable")
    t.call("CSS.enable")
    root = t.call("DOM.getDocument")["root"]["nodeId"]
    node = t.call("DOM.querySelector", {"nodeId": root, "selector": "#h-credit"})["nodeId"]
    fonts = t.call("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    names = [f["familyName"] for f in fonts]
    # every glyph drawn from a real font that has Devanagari (no tofu boxes)
    assert fonts and any("Devanagari" in n or "Noto" in n for n in names), names
    assert t.text("h-credit") == words("hi")["p.credit"]


def raw_get(meter, path, headers=()):
    c = http.client.HTTPConnection("127.0.0.1", meter.port, timeout=10)
    c.request("GET", path, headers=dict(headers, Host="127.0.0.1"))
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict(r.getheaders()), body


def test_language_from_browser_cookie_and_pick(meter):
    st, h, body = raw_get(meter, "/", {"Accept-Language": "sw-KE,sw;q=0.9,en;q=0.5"})
    assert st == 200 and b'<html lang="sw">' in body
    st, h, body = raw_get(meter, "/", {"Accept-Language": "fr-FR,de;q=0.8"})
    assert b'<html lang="en">' in body                      # nothing shipped fits: English
    st, h, body = raw_get(meter, "/?lang=hi", {"Accept-Language": "sw"})
    assert b'<html lang="hi">' in body                      # the consumer's pick wins
    assert h["Set-Cookie"].startswith("lang=hi;") and "SameSite=Lax" in h["Set-Cookie"]
    st, h, body = raw_get(meter, "/", {"Cookie": "lang=hi", "Accept-Language": "sw"})
    assert b'<html lang="hi">' in body and "Set-Cookie" not in h
    # the live view and the event texts follow the cookie too
    st, h, body = raw_get(meter, "/api/live", {"Cookie": "lang=sw"})
    assert catalogue("sw")["on"].encode() in body
    st, h, body = raw_get(meter, "/api/events?n=32", {"Cookie": "lang=hi"})
    texts = [e["text"] for e in json.loads(body)]
    hi = [v for k, v in catalogue("hi").items() if k.startswith("ev.")]
    assert texts and all(any(x.startswith(v) for v in hi) for x in texts), texts
    assert "Top-up accepted" not in body.decode()


@pytest.mark.parametrize("path", ["/?lang=xx", "/?lang=", "/api/live?lang=EN",
                                  "/api/chart?span=day&lang=zz"])
def test_unknown_language_is_a_clear_400(meter, path):
    st, h, body = raw_get(meter, path)
    assert st == 400 and b"lang must be one of en" in body, body


def test_chart_fragment_and_bad_span(meter):
    st, h, body = raw_get(meter, "/api/chart?span=month", {"Cookie": "lang=sw"})
    assert st == 200 and h["Content-Type"].startswith("text/html")
    assert body.startswith(b'<figure class="ch">') and catalogue("sw")["chart.table"].encode() in body
    st, h, body = raw_get(meter, "/api/chart?span=year")
    assert st == 400 and b"span must be day or month" in body


def test_settings_link_explains_a_missing_pin(browser, meter):
    t = open_page(browser, meter, "en", "phone")
    assert t.js("document.getElementById('admin').hidden") is True
    assert t.js("document.getElementById('nopin').hidden") is False
    assert "no admin PIN" in t.text("nopin")


def test_supply_off_says_why_on_the_first_screen(browser, tmp_path_factory, artifacts):
    """A meter out of credit: the pill says OFF and the reason sits on the first screen.
    Its web.lang setting (Swahili) wins over the browser's language; the consumer's pick
    (the cookie) wins over the setting."""
    gen = webmeter.module_meter(tmp_path_factory, "weboff", credit={"initial": 0},
                                tariff=TARIFF, web={"lang": "sw"})
    m = next(gen)
    try:
        m_live = m.json("GET", "/api/live")[1]
        assert m_live["relay"]["closed"] is False
        assert b'<html lang="sw">' in raw_get(m, "/", {"Accept-Language": "hi,en"})[2]
        assert b'<html lang="en">' in raw_get(m, "/", {"Cookie": "lang=en"})[2]
        for lang in LANGS:
            t = open_page(browser, m, lang, "phone")
            w = words(lang)
            assert t.text("relay") == w["off"]
            assert t.text("why") == w["why.no_credit"]
            for k in ("why", "relay", "credit", "code", "go"):
                b = box(t, k)
                assert b["shown"] and 0 <= b["top"] and b["bottom"] <= b["vh"], (lang, k, b)
            t.screenshot(artifacts / ("web_%s_off.png" % lang))
    finally:
        next(gen, None)
