"""Bad HTTP input against the real firmware: every case gets a 4xx (never a 5xx, never a
secret), slow or half-open clients are cut off by the read deadline, and through all of it
the meter keeps serving and metering (no missed window, no traceback)."""
import socket
import threading
import time

import pytest

import webmeter


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    d = tmp_path_factory.mktemp("webbad")
    fw = webmeter.build_firmware()
    m = webmeter.Meter(fw, d / "flash", webmeter.config(webmeter.free_port()))
    yield m
    m.stop()


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


def req(method, path, body=b"", headers=(), ctype="application/json"):
    h = ["%s %s HTTP/1.1" % (method, path), "Host: meter"]
    if body or method == "POST":
        h.append("Content-Type: " + ctype)
        h.append("Content-Length: %d" % len(body))
    h.extend(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


CASES = {
    "malformed json": (req("POST", "/api/token", b'{"code": 1234'), 400, b"malformed JSON"),
    "json not an object": (req("POST", "/api/token", b"[1, 2, 3]"), 400, b"must be an object"),
    "json nested deep": (req("POST", "/api/token", b"[" * 500 + b"]" * 500), 400, b"object"),
    "wrong content type": (req("POST", "/api/token", b"code=1", ctype="text/plain"), 415, b"JSON"),
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
}
PATHS = ["/../config.json", "/%2e%2e/config.json", "/web/../config.json", "//config.json",
         "/s.css%00.json", "/api/..%2fconfig.json", "/\\..\\config.json", "/config.json",
         "/credit.a", "/api/admin/../../config.json", "/%2E%2E%2Fconfig.json",
         "/main.py", "/web/words.txt"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_request_gets_4xx(meter, name):
    data, want, words = CASES[name]
    code, resp = raw(meter, data)
    assert code == want, resp[:300]
    assert words in resp, resp[:300]
    assert meter.alive()


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
