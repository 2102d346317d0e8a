"""Bad HTTP input against the real firmware: every case gets a 4xx (never a 5xx, never a
secret), slow or half-open clients are cut off by the read deadline, and through all of it
the meter keeps serving and metering (no missed window, no traceback)."""
import re
import socket
import threading
import time

import pytest

import webmeter


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    d = tmp_path_factory.mktemp("webbad")
    fw = webmeter.build_firmware()
    m = webmeter.Meter(fw, d / "flash", webmeter.config(webmeter.free_port(),
                                                         web={"hosts": [EXTRA_HOST]}))
    yield m
    m.stop()


EXTRA_HOST = "meter.example.org"    # a web.hosts entry


def raw(meter, data, timeout=10, hold=0.0):
    """Send raw bytes, read to EOF; -> (status code or None, response bytes)."""
    s = socket.create_connection(("127.0.0.1", meter.port), timeout=timeout)
    try:
        s.sendall(data)
        if hold:
            time.sleep(hold)
        buf = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    code = int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/1.") else None
    return code, buf


FORM = "application/x-www-form-urlencoded"


def req(method, path, body=b"", headers=(), ctype="application/json", host="127.0.0.1"):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: " + host]
    if body or method == "POST":
        h.append("Content-Type: " + ctype)
        h.append("Content-Length: %d" % len(body))
    h.extend(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


CASES = {
    "malformed json": (req("POST", "/api/token", b'{"code": 1234'), 400, b"malformed JSON"),
    "json not an object": (req("POST", "/api/token", b"[1, 2, 3]"), 400, b"must be an object"),
    "json nested deep": (req("POST", "/api/token", b"[" * 500 + b"]" * 500), 400, b"object"),
    # a same-origin page's request (Origin), so that the body's type is what is judged
    "wrong content type": (req("POST", "/api/token", b"code=1", ctype="text/plain",
                               headers=["Origin: http://127.0.0.1"]), 415, b"JSON"),
    "code with letters": (req("POST", "/api/token", b'{"code": "12345abcd"}'), 400, b"9 to 15"),
    "code too long": (req("POST", "/api/token", b'{"code": "%s"}' % (b"1" * 40)), 400, b"9 to 15"),
    "code not a string": (req("POST", "/api/token", b'{"code": 123456789}'), 400, b"9 to 15"),
    "body too large": (b"POST /api/token HTTP/1.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 100000\r\n\r\n", 413, b"too large"),
    "chunked body": (b"POST /api/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n\r\n", 411, b"Content-Length"),
    "bad content length": (b"POST /api/token HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400,
                           b"Content-Length"),
    "header line too long": (b"GET / HTTP/1.1\r\nX-Junk: " + b"a" * 3000 + b"\r\n\r\n", 431,
                             b"too large"),
    "too many headers": (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % k for k in range(40))
                         + b"\r\n", 431, b"too many"),
    "garbage request line": (b"HELLO\r\n\r\n", 400, b"request line"),
    "not utf-8": (b"GET /\xff\xfe HTTP/1.1\r\n\r\n", 400, b"UTF-8"),
    "unknown method": (req("DELETE", "/api/live"), 405, b"method"),
    "wrong method on route": (req("GET", "/api/token"), 404, b"no such"),
    "bad query number": (req("GET", "/api/events?n=abc"), 400, b"n must be"),
    "bad query escape": (req("GET", "/api/events?n=%zz"), 400, b"query"),
    "bad chart span": (req("GET", "/api/history.svg?span=../../config"), 400, b"span"),
    "admin without session": (req("POST", "/api/admin/settings", b'{"settings": {}}'), 401,
                              b"log in"),
    "admin bad bearer": (req("GET", "/api/admin/settings", headers=["Authorization: Bearer x"]),
                         401, b"log in"),
    "unknown api": (req("GET", "/api/nope"), 404, b"no such"),
    # Host: only the meter's own names (DNS rebinding), before any handler runs
    "foreign host": (req("GET", "/api/live", host="evil.example"), 421, b"does not answer"),
    "foreign host with port": (req("GET", "/", host="evil.example:80"), 421, b"does not answer"),
    "our name as a suffix": (req("GET", "/", host="127.0.0.1.evil.example"), 421, b"answer"),
    "our name as a prefix": (req("GET", "/", host="x127.0.0.1"), 421, b"answer"),
    "foreign host posting": (req("POST", "/api/emergency", b"{}", host="evil.example",
                                 headers=["Origin: http://evil.example"]), 421, b"answer"),
    "no host": (b"GET /api/live HTTP/1.1\r\n\r\n", 400, b"Host header required"),
    "empty host": (req("GET", "/api/live", host=""), 400, b"Host header required"),
    "host port not a number": (req("GET", "/", host="127.0.0.1:http"), 400, b"bad Host"),
    "host port empty": (req("GET", "/", host="127.0.0.1:"), 400, b"bad Host"),
    "host port zero": (req("GET", "/", host="127.0.0.1:0"), 400, b"bad Host"),
    "host port too big": (req("GET", "/", host="127.0.0.1:65536"), 400, b"bad Host"),
    "host ipv6 literal": (req("GET", "/", host="[::1]:80"), 400, b"bad Host"),
    "host only a dot": (req("GET", "/", host="."), 400, b"bad Host"),
    # POSTs must come from the meter's own page (cross-site requests)
    "origin foreign": (req("POST", "/api/emergency", b"{}", headers=[
        "Origin: http://evil.example"]), 403, b"cross-site"),
    "admin login cross-site": (req("POST", "/api/admin/login", b'{"pin": "0000"}', headers=[
        "Origin: http://evil.example"]), 403, b"cross-site"),
    "admin login form without origin": (req("POST", "/api/admin/login", b"pin=0000",
                                            ctype=FORM), 403, b"reload"),
    "origin null": (req("POST", "/api/emergency", b"{}", headers=["Origin: null"]), 403,
                    b"cross-site"),
    "origin empty": (req("POST", "/api/emergency", b"{}", headers=["Origin: "]), 403,
                     b"cross-site"),
    "origin other port": (req("POST", "/api/emergency", b"{}", headers=[
        "Origin: http://127.0.0.1:1"]), 403, b"cross-site"),
    "origin our name as a prefix": (req("POST", "/api/emergency", b"{}", headers=[
        "Origin: http://127.0.0.1.evil.example"]), 403, b"cross-site"),
    "origin with userinfo": (req("POST", "/api/emergency", b"{}", headers=[
        "Origin: http://x@127.0.0.1"]), 403, b"cross-site"),
    "origin other scheme": (req("POST", "/api/emergency", b"{}", headers=[
        "Origin: ftp://127.0.0.1"]), 403, b"cross-site"),
    "referer foreign": (req("POST", "/topup", b"code=123456789", ctype=FORM, headers=[
        "Referer: http://evil.example/127.0.0.1/"]), 403, b"cross-site"),
    "origin foreign, referer ours": (req("POST", "/emergency", b"", ctype=FORM, headers=[
        "Origin: http://evil.example", "Referer: http://127.0.0.1/"]), 403, b"cross-site"),
    "form without origin or token": (req("POST", "/emergency", b"", ctype=FORM), 403,
                                     b"reload the meter's page"),
    "form with a wrong token": (req("POST", "/topup", b"code=123456789&csrf=0123456789abcdef",
                                    ctype=FORM), 403, b"reload"),
    "form token malformed": (req("POST", "/topup", b"csrf=%zz", ctype=FORM), 403, b"reload"),
    "text without origin": (req("POST", "/api/emergency", b"{}", ctype="text/plain"), 403,
                            b"reload"),
    "multipart without origin": (req("POST", "/api/emergency", b"--x--\r\n",
                                     ctype="multipart/form-data; boundary=x"), 403, b"reload"),
    "empty post without origin": (b"POST /api/emergency HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Content-Length: 0\r\n\r\n", 403, b"reload"),
}
PATHS = ["/../config.json", "/%2e%2e/config.json", "/web/../config.json", "//config.json",
         "/s.css%00.json", "/api/..%2fconfig.json", "/\\..\\config.json", "/config.json",
         "/credit.a", "/api/admin/../../config.json", "/%2E%2E%2Fconfig.json",
         "/main.py", "/web/words.en.txt", "/words.hi.txt", "/page.en.html"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_request_gets_4xx(meter, name):
    data, want, words = CASES[name]
    code, resp = raw(meter, data)
    assert code == want, resp[:300]
    assert words in resp, resp[:300]
    assert meter.alive()


# Refused before the client finished sending: the meter reads and drops the rest (bounded)
# before closing, so the socket ends with a FIN. Closed with input unread it would end with
# a reset, and a client's stack may then drop the answer it had not read yet.
UNREAD = {
    "head too large": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: " + b"a" * 3000
                       + b"\r\n\r\n", 431),
    "body too large": (b"POST /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       b"application/json\r\nContent-Length: 3000\r\n\r\n" + b"x" * 3000, 413),
}


@pytest.mark.parametrize("name", sorted(UNREAD))
def test_refused_request_ends_without_a_reset(meter, name):
    data, want = UNREAD[name]
    s = socket.create_connection(("127.0.0.1", meter.port), timeout=10)
    try:
        s.sendall(data)
        buf = b""
        while True:
            chunk = s.recv(4096)    # a ConnectionResetError here is the failure
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    assert buf.startswith(b"HTTP/1.") and int(buf.split(b" ", 2)[1]) == want, buf[:200]
    assert meter.alive()


# The names a meter answers to: the board's addresses (unix_sim: loopback), its mDNS name and
# web.hosts, in any case, with any port, with or without the root dot.
OUR_HOSTS = ["127.0.0.1", "127.0.0.1:{port}", "LOCALHOST", "localhost.:8080",
             "meter-m-web-1.local", "Meter-M-Web-1.local:80", EXTRA_HOST, EXTRA_HOST + ":443"]


@pytest.mark.parametrize("host", OUR_HOSTS)
def test_the_meters_own_names_are_served(meter, host):
    code, resp = raw(meter, req("GET", "/api/live", host=host.format(port=meter.port)))
    assert code == 200, resp[:300]


# POSTs that come from the meter's own page, or from a script sending JSON, reach the handler
# (/api/confirm answers 409: there is nothing to confirm)
SAME_ORIGIN = {
    "origin": ["Origin: http://127.0.0.1"],
    "origin through https": ["Origin: https://127.0.0.1"],
    "origin in capitals": ["Origin: HTTP://127.0.0.1"],
    "referer without origin": ["Referer: http://127.0.0.1/admin?x=1"],
    "json without either": [],
}


@pytest.mark.parametrize("name", sorted(SAME_ORIGIN))
def test_same_origin_posts_reach_the_handler(meter, name):
    code, resp = raw(meter, req("POST", "/api/confirm", b"{}", headers=SAME_ORIGIN[name]))
    assert code == 409 and b"Nothing to confirm" in resp, resp[:300]


def test_form_with_the_pages_token_needs_no_origin(meter):
    """A browser that sends neither Origin nor Referer can still use the no-JavaScript
    forms: they carry this boot's token, which only a page read from the meter knows."""
    page = raw(meter, req("GET", "/"))[1]
    tokens = set(re.findall(rb'name="csrf" value="([0-9a-f]{16})"', page))
    assert len(tokens) == 1, page[:300]
    code, resp = raw(meter, req("POST", "/confirm", b"csrf=" + tokens.pop(), ctype=FORM))
    assert code == 200 and b"Nothing to confirm" in resp, resp[:300]


def test_refusals_are_counted_and_change_nothing(meter):
    """Every foreign Host and cross-site POST above again: each is counted (/api/status web
    misdirected, cross_site), and none touched credit, emergency credit or token entry."""
    before = meter.status()["web"]
    credit = meter.json("GET", "/api/credit")[1]
    foreign = [d for d, want, _ in CASES.values() if want == 421]
    cross = [d for d, want, _ in CASES.values() if want == 403]
    for d in foreign + cross:
        raw(meter, d)
    after = meter.status()["web"]
    assert after["misdirected"] - before["misdirected"] == len(foreign)
    assert after["cross_site"] - before["cross_site"] == len(cross)
    assert after["rejected"] - before["rejected"] >= len(foreign) + len(cross)
    now = meter.json("GET", "/api/credit")[1]
    for k in ("emergency_in_use", "debt", "lockout_s", "token_count"):
        assert now[k] == credit[k], k
    assert now["emergency_in_use"] == 0 and now["lockout_s"] == 0
    kinds = [e["kind"] for e in meter.json("GET", "/api/events?n=32")[1]]
    assert not {"emergency", "token", "pin_rejected"} & set(kinds), kinds


# Every response, pages, assets, API, errors and refusals alike, forbids framing and
# loading anything from elsewhere.
HEADED = {
    "page": req("GET", "/"), "head of the page": req("HEAD", "/"), "css": req("GET", "/s.css"),
    "script": req("GET", "/app.js"), "admin page": req("GET", "/admin"),
    "admin script": req("GET", "/admin.js"), "live API": req("GET", "/api/live"),
    "status API": req("GET", "/api/status"), "chart": req("GET", "/api/history.svg"),
    "form answer": req("POST", "/confirm", b"{}", headers=["Origin: http://127.0.0.1"]),
    "not found": req("GET", "/nope"), "bad request": req("GET", "/api/events?n=x"),
    "foreign host": CASES["foreign host"][0], "cross-site": CASES["origin foreign"][0],
}


@pytest.mark.parametrize("name", sorted(HEADED))
def test_every_response_forbids_framing(meter, name):
    code, resp = raw(meter, HEADED[name])
    head = resp.split(b"\r\n\r\n", 1)[0].decode().lower() + "\r\n"
    assert code is not None and code < 500, resp[:300]
    assert "\r\nx-frame-options: deny\r\n" in head, head
    assert "\r\nx-content-type-options: nosniff\r\n" in head, head
    assert ("\r\ncontent-security-policy: default-src 'self'; frame-ancestors 'none'; "
            "form-action 'self'; base-uri 'none'\r\n") in head, head
    assert head.count("x-frame-options") == 1 and head.count("content-security-policy") == 1


@pytest.mark.parametrize("path", PATHS)
def test_path_tricks_never_reach_files(meter, path):
    code, resp = raw(meter, req("GET", path))
    assert code in (400, 404), resp[:300]
    assert webmeter.KEY.encode() not in resp and b"pin_hash" not in resp


def test_half_sent_body_is_cut_off(meter):
    code, _ = raw(meter, b"POST /api/token HTTP/1.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 500\r\n\r\n{\"code\":", timeout=10)
    assert code == 408


def test_slow_clients_do_not_stall_the_meter(meter):
    """Slowloris: connections that never finish their request head. They are dropped at the
    read deadline (408), or sooner when a real client is waiting for a socket, so real
    requests keep being answered, and not one metering window is missed."""
    before = meter.status()
    results = []

    def slow():
        results.append(raw(meter, b"GET / HTTP/1.1\r\nHost: meter\r\n", timeout=15)[0])

    threads = [threading.Thread(target=slow) for _ in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    worst = 0.0
    for _ in range(6):                    # the page keeps answering while they hang
        t0 = time.monotonic()
        try:
            st = meter.get("/api/live", timeout=5)[0]
        except OSError:
            st = None
        worst = max(worst, time.monotonic() - t0)
        assert st == 200
        time.sleep(0.5)
    for t in threads:
        t.join(20)
    assert set(results) <= {408, 503} and results.count(408) >= 6, results
    after = meter.status()
    assert after["missed"] == before["missed"] == 0
    assert after["windows"] > before["windows"]
    assert after["web"]["timeouts"] > before["web"]["timeouts"]
    st, _ = meter.get("/api/live")
    assert st == 200
    print("\nslowloris: %s; real requests meanwhile: worst %.0f ms; 503 refusals %d"
          % (sorted(results), worst * 1000, after["web"]["busy"] - before["web"]["busy"]))


def test_meter_survived_everything(meter):
    st = meter.status()
    assert meter.alive() and st["missed"] == 0 and st["web"]["rejected"] > 0
    assert "Traceback" not in meter.log.read_text(), meter.log.read_text()[-3000:]
