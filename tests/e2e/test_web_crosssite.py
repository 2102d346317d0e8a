"""Cross-site attacks on the meter's page, in headless Chromium against the real firmware.

Another web site (a tiny http.server on its own port, reached as http://evil.test:PORT/)
makes the consumer's browser post to the meter: forms to /emergency and /topup, no-cors and
CORS fetches to the JSON API, and a frame around the page. Chromium's --host-resolver-rules
gives names the meter's address, as DNS rebinding or the meter's mDNS name would. Each attack
is refused and changes nothing; the page keeps working under the meter's own names."""
import http.server
import threading

import pytest

import cdp
import webmeter
from waits import wait_until

MDNS = "meter-m-web-1.local"
RULES = "--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1, MAP %s 127.0.0.1" % MDNS
BAD_CODES = ("111111111", "222222222", "333333333", "444444444")  # 3 lock token entry


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    yield from webmeter.module_meter(tmp_path_factory, "webxs")


def attack_pages(target):
    """The other site's pages, aimed at the meter at `target` (http://127.0.0.1:PORT)."""
    frames = "".join(
        '<iframe name="f%d"></iframe><form target="f%d" method="post" action="%s/topup">'
        '<input name="code" value="%s"></form>' % (k, k, target, c)
        for k, c in enumerate(BAD_CODES))
    return {
        # the classic: the page the consumer opened posts a form, top level, on load
        "/emergency.html": '<form method="post" action="%s/emergency"></form>'
                           '<script>document.forms[0].submit()</script>' % target,
        # the same with Referer and Origin hidden: Chromium then sends "Origin: null"
        "/hidden.html": '<meta name="referrer" content="no-referrer">'
                        '<form method="post" action="%s/emergency"></form>'
                        '<script>document.forms[0].submit()</script>' % target,
        # four bad codes and a bad admin PIN into hidden frames, and fetches to the JSON API
        "/many.html": frames + '<iframe name="fe"></iframe><form target="fe" method="post" '
                      'action="%s/emergency"></form>'
                      '<iframe name="fp"></iframe><form target="fp" method="post" '
                      'action="%s/api/admin/login"><input name="pin" value="0000"></form><script>'
                      'for (var f of document.forms) f.submit();'
                      'window.results = Promise.all(['
                      ' fetch("%s/api/emergency", {method: "POST", mode: "no-cors"})'
                      '  .then(function () { return "sent"; }),'
                      ' fetch("%s/api/token", {method: "POST", mode: "no-cors",'
                      '  body: JSON.stringify({code: "555555555"})})'
                      '  .then(function () { return "sent"; }),'
                      ' fetch("%s/api/admin/login", {method: "POST", mode: "no-cors",'
                      '  body: JSON.stringify({pin: "9999"})})'
                      '  .then(function () { return "sent"; }),'
                      ' fetch("%s/api/emergency", {method: "POST", body: "{}",'
                      '  headers: {"Content-Type": "application/json"}})'
                      '  .then(function () { return "read"; }, function () { return "blocked"; })'
                      ']);</script>' % ((target,) * 6),
        # framing the page, to trick a click on its buttons
        "/frame.html": '<iframe id="m" src="%s/"></iframe>' % target,
    }


@pytest.fixture(scope="module")
def evil(meter):
    """The other web site: (its base URL, the requests it was sent)."""
    pages = attack_pages(meter.url)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    port = webmeter.free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://evil.test:%d" % port
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    b = cdp.Browser(flags=[RULES])
    yield b
    b.close()


def state(meter):
    c = meter.json("GET", "/api/credit")[1]
    return {k: c[k] for k in ("emergency_in_use", "debt", "lockout_s", "token_count")}


def refused(meter):
    return meter.status()["web"]["cross_site"]


def wait_for(fn, want, timeout=15):
    """fn() once it returns want, or at the timeout (the meter counts what it refused)."""
    wait_until(lambda: fn() == want, timeout)
    return fn()


def test_cross_site_form_to_emergency_is_refused(browser, meter, evil, artifacts):
    before, n = state(meter), refused(meter)
    assert meter.json("GET", "/api/credit")[1]["emergency_available"] > 0  # it would work
    t = browser.tab()
    t.goto(evil + "/emergency.html")
    body = t.wait("location.href.indexOf(%r) === 0 && document.body && "
                  "document.body.textContent" % (meter.url + "/emergency"))
    assert "cross-site request refused" in body, body
    t.screenshot(artifacts / "web_crosssite.png", full=False)
    t.goto(evil + "/hidden.html")  # no Referer, "Origin: null"
    body = t.wait("location.href.indexOf(%r) === 0 && document.body && "
                  "document.body.textContent" % (meter.url + "/emergency"))
    assert "cross-site request refused" in body, body
    assert wait_for(lambda: refused(meter), n + 2) == n + 2
    assert state(meter) == before


def test_cross_site_codes_and_fetches_are_refused(browser, meter, evil):
    """Four bad codes would lock token entry, bad PINs the owner's admin login; a no-cors
    fetch needs no preflight. None of them reaches the credit logic or the PIN gate; the
    JSON fetch is stopped by the browser at the CORS preflight, which the meter refuses
    (405)."""
    before, n = state(meter), refused(meter)
    t = browser.tab()
    t.goto(evil + "/many.html")
    assert t.js("window.results") == ["sent", "sent", "sent", "blocked"]
    # 4 topup forms, 1 emergency form, 1 login form, 3 no-cors fetches; the CORS one never
    # posts
    assert wait_for(lambda: refused(meter), n + 9) == n + 9
    assert state(meter) == before
    assert before["lockout_s"] == 0 and before["emergency_in_use"] == 0
    events = meter.json("GET", "/api/events?n=32")[1]
    assert not [e for e in events if e["kind"] in ("emergency", "token", "pin_rejected")], events


def test_the_page_cannot_be_framed(browser, meter, evil):
    """Framed by another site (to trick a click on its buttons), the page does not render:
    Chromium puts its own error page in the frame (X-Frame-Options, frame-ancestors)."""
    t = browser.tab()
    t.goto(evil + "/frame.html")
    frames = wait_until(lambda: [f for f in browser.call("Target.getTargets")["targetInfos"]
                                 if f["type"] == "iframe" and f["url"].startswith(meter.url)], 5)
    assert frames, "no frame"
    frame = frames[0]
    sid = browser.call("Target.attachToTarget", {"targetId": frame["targetId"],
                                                 "flatten": True})["sessionId"]
    r = browser.call("Runtime.evaluate", {"expression": "[location.href, "
                     "!!document.getElementById('credit')]", "returnByValue": True},
                     session=sid)["result"]["value"]
    assert r == ["chrome-error://chromewebdata/", False], r


def test_a_rebound_name_gets_nothing(browser, meter):
    """DNS rebinding: another site's name now resolves to the meter. The browser sends that
    name as Host, and the meter answers 421 before any handler runs."""
    port = meter.url.rsplit(":", 1)[1]
    n = meter.status()["web"]["misdirected"]
    t = browser.tab()
    for path in ("/", "/api/live"):
        t.goto("http://rebind.test:%s%s" % (port, path))
        body = t.js("document.body.textContent")
        assert "does not answer" in body and "credit" not in body, body
    # at least one per page; Chromium retries a 421 once and asks for /favicon.ico too
    assert meter.status()["web"]["misdirected"] >= n + 2


def test_page_works_under_its_mdns_name(browser, meter):
    """Under the meter's own name the page is live and its own script's POSTs go through:
    the same origin. (Confirm: nothing to confirm, so nothing changes.)"""
    port = meter.url.rsplit(":", 1)[1]
    n = refused(meter)
    t = browser.tab()
    t.goto("http://%s:%s/" % (MDNS, port))
    t.wait("document.getElementById('v') && parseFloat(document.getElementById('v')"
           ".textContent) > 200")
    r = t.js("fetch('/api/confirm', {method: 'POST', headers: {'Content-Type': "
             "'application/json'}, body: '{}'}).then(function (r) { return r.status; })")
    assert r == 409
    r = t.js("fetch('/api/token', {method: 'POST', body: 'x'}).then(function (r) "
             "{ return r.status; })")
    assert r == 415  # a same-origin text body passes the guard; the handler wants JSON
    assert refused(meter) == n
