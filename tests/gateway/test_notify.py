"""Notifications (gateway/notify.py) through real parts: signed webhooks to a real HTTP
receiver started here that fails the first attempts, email digests to a real SMTP server
(aiosmtpd) started here, with STARTTLS and authentication; subscriptions over the API."""
import email
import http.server
import json
import socket
import ssl
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from gateway import metrics, notify
from gateway.alerting import Alerting
from gateway.notify import Notifier, backoff_s
from gateway.notify_email import EmailSender
from gateway.notify_webhook import HEADER, WebhookSender, verify
from gateway.store import Store
from broker import free_port
from test_alerting import T0, Clock
from test_api import rec
from waits import wait_until

SECRET = b"whsec-" + b"x" * 26


class Receiver:
    """A real HTTP server on loopback answering each POST with the next status of `script`
    (the last one repeats), keeping what it received."""

    def __init__(self, script, hold=None):
        """hold: an Event each request waits for (at most 10 s) before it is answered."""
        self.script, self.got = list(script), []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                if hold is not None:
                    hold.wait(10)
                code = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook" % self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fleet(tmp_path, db):
    """30 meters in two groups, all low on credit; a clock the test moves."""
    store = Store(db("n.db"))
    for i in range(30):
        mid = "m-%d" % i
        store.register_meter(mid, grp="block-a" if i < 20 else "block-b")
        store.insert_records(mid, [rec(1, 0, T0, credit=1000)])
        store.set_meter_status(mid, online=True, last_seen=T0)
    yield store, Clock(T0 + 10)
    store.close()


def make(store, clock, senders, **kw):
    n = Notifier(store, senders, clock=clock, rand=lambda: 1.0, **kw)
    return n, Alerting(store, n.on_change, clock=clock)


def test_webhook_signed_retried_with_backoff_and_logged(fleet):
    store, clock = fleet
    rx = Receiver([503, 500, 200])
    try:
        n, al = make(store, clock, {"webhook": WebhookSender(SECRET, clock=clock)},
                     backoff_first_s=2.0)
        sub = n.subscribe("webhook", rx.url, kinds=["low_credit"], meters=["m-3", "m-4"])
        al.evaluate()
        assert n.step() == 1 and len(rx.got) == 1            # 503: retried after 2 s
        assert n.step() == 0                                  # not due yet
        clock.t += 2
        assert n.step() == 1                                  # 500: retried after 4 s more
        clock.t += 3
        assert n.step() == 0
        clock.t += 1
        assert n.step() == 1 and len(rx.got) == 3
        (d,) = n.deliveries()
        assert d["status"] == "delivered" and d["attempts"] == 3 and d["sub"] == sub["id"]
        assert [a["status_code"] for a in d["attempt_log"]] == [503, 500, 200]
        assert [a["error"] for a in d["attempt_log"]] == ["HTTP 503", "HTTP 500", None]
        assert all(isinstance(a["latency_ms"], int) and a["latency_ms"] >= 0
                   for a in d["attempt_log"])
        headers, body = rx.got[-1]
        assert headers["Content-Type"] == "application/json"
        assert headers[HEADER].startswith("t=%d,v1=" % clock.t)
        doc = json.loads(body)
        assert [(x["event"], x["alert"]["kind"], x["alert"]["meter"]) for x in doc["notices"]] == [
            ("raised", "low_credit", "m-3"), ("raised", "low_credit", "m-4")]
        assert doc["notices"][0]["alert"]["explanation"] == "credit 1000 below 5000"
        # the receiver's check: right secret and body within the tolerance; not otherwise
        assert verify(SECRET, body, headers[HEADER], now=clock.t)
        assert not verify(b"other", body, headers[HEADER], now=clock.t)
        assert not verify(SECRET, body.replace(b"1000", b"9000"), headers[HEADER], now=clock.t)
        assert not verify(SECRET, body, headers[HEADER], now=clock.t + 301)   # a replay
        assert not verify(SECRET, body, "v1=abc", now=clock.t)
        assert SECRET.decode() not in json.dumps(n.deliveries())
        text = metrics.render(store)
        assert "gateway_alert_delivery_attempts_total 3.0\n" in text
        assert 'gateway_alert_deliveries{status="delivered"} 1.0\n' in text
        assert 'gateway_alerts_open{kind="low_credit",severity="warning"} 30.0\n' in text
        assert "gateway_alerts_raised_total 30.0\n" in text
        # this process's own counters, from the running Alerting and Notifier
        text = metrics.render(store, alerting=al, notifier=n)
        assert 'gateway_alert_changes_total{change="raised"} 30.0\n' in text
        assert 'gateway_alert_notifier_total{outcome="attempts"} 3.0\n' in text
        assert 'gateway_alert_notifier_total{outcome="errors"} 2.0\n' in text
        assert 'gateway_alert_notifier_total{outcome="delivered"} 1.0\n' in text
    finally:
        rx.close()


def test_webhook_gives_up_after_the_configured_time(fleet):
    store, clock = fleet
    rx = Receiver([500])
    try:
        n, al = make(store, clock, {"webhook": WebhookSender(SECRET, clock=clock)},
                     backoff_first_s=1.0, give_up_s=10)
        n.subscribe("webhook", rx.url, meters=["m-1"])
        al.evaluate()
        for _ in range(30):
            n.step()
            clock.t += 1
        (d,) = n.deliveries()
        # attempts at +0, +1, +3, +7 (backoff 1, 2, 4); the next would be past 10 s: failed
        assert d["status"] == "failed" and d["attempts"] == 4 and len(rx.got) == 4
        assert n.stats["failed"] == 1
    finally:
        rx.close()


def test_a_delivery_carries_at_most_notices_max(fleet, monkeypatch):
    store, clock = fleet
    monkeypatch.setattr(notify, "NOTICES_MAX", 12)
    rx = Receiver([200])
    try:
        n, al = make(store, clock, {"webhook": WebhookSender(SECRET, clock=clock)})
        n.subscribe("webhook", rx.url)
        al.evaluate()                                   # 30 alerts
        for _ in range(3):
            n.step()
        assert [len(json.loads(body)["notices"]) for _, body in rx.got] == [12, 12, 6]
        meters = [x["alert"]["meter"] for _, body in rx.got for x in json.loads(body)["notices"]]
        assert sorted(meters) == sorted("m-%d" % i for i in range(30))
    finally:
        rx.close()


def test_prune_forgets_what_ended_before_and_keeps_the_rest(fleet):
    store, clock = fleet
    rx = Receiver([200])
    try:
        n, al = make(store, clock, {"webhook": WebhookSender(SECRET, clock=clock)})
        n.subscribe("webhook", rx.url, meters=["m-1", "m-2"])
        n.subscribe("email", "ops@example.org", meters=["m-2"])   # no sender: stays pending
        al.set_thresholds("", {"offline_after_s": 10 ** 6})    # only low credit here
        al.evaluate()
        n.step()
        al.set_thresholds("m-1", {"low_credit": 0})
        clock.t += 7200                                # m-1 clears (past its cooldown later)
        al.evaluate()
        n.step()
        assert n.prune(clock.t - 3600) == 0            # the first webhook's log goes, no alert
        clock.t += 7200
        assert n.prune(clock.t - 3600) == 1            # m-1's cleared alert, its deliveries
        count = lambda table: store.query("SELECT count(*) n FROM %s" % table)[0]["n"]
        assert {(a["kind"], a["meter"]) for a in al.list("all")} == {
            (a["kind"], a["meter"]) for a in al.list("open")}
        assert len(al.list("open")) == 29
        assert [d["status"] for d in n.deliveries()] == ["pending"]   # the email, kept
        assert count("alert_attempts") == 1 and count("alert_notices") == 1
    finally:
        rx.close()


def test_workers_sharing_the_database_send_a_delivery_once(fleet, tmp_path):
    store, clock = fleet
    other = Store(store.path, shared=True)         # a second worker on the same file
    hold = threading.Event()
    rx = Receiver([200], hold=hold)
    try:
        senders = {"webhook": WebhookSender(SECRET, clock=clock)}
        n1, al = make(store, clock, senders)
        n2 = Notifier(other, senders, clock=clock)
        n1.subscribe("webhook", rx.url, meters=["m-1"])
        al.evaluate()
        n1._gather(clock.t)
        threads = [threading.Thread(target=n.step) for n in (n1, n2)]
        for t in threads:
            t.start()
        assert wait_until(lambda: len(rx.got) >= 1, 10)
        hold.set()                                  # the other has stepped meanwhile
        for t in threads:
            t.join(20)
        assert len(rx.got) == 1 and n1.deliveries()[0]["attempts"] == 1
    finally:
        hold.set()
        rx.close()
        other.close()


def test_webhook_redirect_is_a_failure_not_followed(fleet):
    store, clock = fleet
    rx = Receiver([302])
    try:
        n, al = make(store, clock, {"webhook": WebhookSender(SECRET, clock=clock)})
        n.subscribe("webhook", rx.url, meters=["m-1"])
        al.evaluate()
        n.step()
        (a,) = n.deliveries()[0]["attempt_log"]
        assert (a["status_code"], a["error"]) == (302, "HTTP 302") and len(rx.got) == 1
    finally:
        rx.close()


def test_unreachable_webhook_is_an_attempt_without_status(fleet):
    store, clock = fleet
    n, al = make(store, clock, {"webhook": WebhookSender(SECRET, timeout_s=2, clock=clock)})
    n.subscribe("webhook", "http://127.0.0.1:%d/" % free_port(), meters=["m-1"])
    al.evaluate()
    n.step()
    (d,) = n.deliveries()
    (a,) = d["attempt_log"]
    assert d["status"] == "pending" and a["status_code"] is None and "URLError" in a["error"]


def test_no_sender_for_a_channel_is_logged(fleet):
    store, clock = fleet
    n, al = make(store, clock, {})
    n.subscribe("email", "ops@example.org", meters=["m-1"])
    al.evaluate()
    clock.t += 60
    n.step()
    assert n.deliveries()[0]["attempt_log"][0]["error"] == "no email sender is configured"


def test_unsubscribing_ends_pending_deliveries(fleet):
    store, clock = fleet
    n, al = make(store, clock, {})
    sub = n.subscribe("email", "ops@example.org", meters=["m-1"])
    al.evaluate()
    clock.t += 60
    n.step()                                        # no sender: pending, to be retried
    assert n.unsubscribe(sub["id"]) and not n.unsubscribe(sub["id"])
    clock.t += 3600
    assert n.step() == 0
    (d,) = n.deliveries()
    assert d["status"] == "failed" and d["attempts"] == 1
    assert [a["error"] for a in d["attempt_log"]] == [
        "no email sender is configured", "subscription removed"]


def test_backoff_is_exponential_capped_and_jittered():
    assert [backoff_s(n, 2, 600, rand=lambda: 1.0) for n in (1, 2, 3, 10, 20)] == [
        2, 4, 8, 600, 600]
    assert backoff_s(3, 2, 600, rand=lambda: 0.25) == 2.0


class Smtp:
    """aiosmtpd on loopback, keeping each message; with STARTTLS and a login when asked."""

    def __init__(self, tls=None, user=None, password=None):
        self.messages, self.logins = [], []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append((envelope.rcpt_tos, email.message_from_bytes(
                    envelope.content)))
                return "250 OK"

        def auth(server, session, envelope, mechanism, data):
            login, pw = (v.decode() if isinstance(v, bytes) else v
                         for v in (data.login, data.password))
            ok = (login, pw) == (user, password)
            outer.logins.append((login, ok))
            return AuthResult(success=ok, handled=False)

        kw = {}
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(tls.cert), str(tls.key))
            kw.update(tls_context=ctx, require_starttls=True)
        if user:
            kw.update(authenticator=auth, auth_require_tls=bool(tls))
        self.port = free_port()
        self.ctl = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kw)
        self.ctl.start()

    def close(self):
        self.ctl.stop()


def test_email_digest_one_message_per_recipient(fleet):
    store, clock = fleet
    smtp = Smtp()
    try:
        sender = EmailSender("127.0.0.1", smtp.port, "gateway@example.org")
        n, al = make(store, clock, {"email": sender}, digest_s=60)
        n.subscribe("email", "ops@example.org", groups=["block-a"])
        n.subscribe("email", "all@example.org")
        n.subscribe("email", "cuts@example.org", kinds=["supply_cut"])
        al.evaluate()                                  # 30 low-credit alerts at once
        clock.t += 59
        n.step()
        assert smtp.messages == []                     # still gathering the digest
        clock.t += 1
        n.step()
        got = {tuple(to): msg for to, msg in smtp.messages}
        assert sorted(got) == [("all@example.org",), ("ops@example.org",)]
        ops = got[("ops@example.org",)]
        assert ops["Subject"] == "[meters] 20 alerts raised, 0 cleared"
        assert ops["From"] == "gateway@example.org"
        lines = ops.get_payload().strip().splitlines()
        assert len(lines) == 20 and "RAISED low_credit m-0 [warning]: credit 1000 below 5000" in lines
        assert "30 alerts raised" in got[("all@example.org",)]["Subject"]
        assert {d["status"] for d in n.deliveries()} == {"delivered"}
        assert [a["status_code"] for d in n.deliveries() for a in d["attempt_log"]] == [250, 250]
    finally:
        smtp.close()


def test_email_starttls_and_login(fleet, tls_ca):
    store, clock = fleet
    smtp = Smtp(tls=tls_ca, user="gw", password="pw-" + "s" * 12)
    try:
        ctx = ssl.create_default_context(cafile=str(tls_ca.ca))
        good = EmailSender("127.0.0.1", smtp.port, "gw@example.org", user="gw",
                           password="pw-" + "s" * 12, starttls=True, ssl_context=ctx)
        n, al = make(store, clock, {"email": good}, digest_s=0)
        n.subscribe("email", "ops@example.org", meters=["m-1"])
        al.evaluate()
        n.step()
        (to, msg), = smtp.messages
        assert to == ["ops@example.org"] and "m-1" in msg.get_payload()
        assert smtp.logins == [("gw", True)]
    finally:
        smtp.close()


@pytest.mark.parametrize("kw,error", [
    ({"password": "wrong-password", "starttls": True}, "SMTP 535"),
    # no STARTTLS: the server offers no AUTH in clear, and the sender does not try
    ({"password": "pw-" + "s" * 12, "starttls": False}, "SMTP: SMTPNotSupportedError"),
])
def test_email_failures_are_logged_without_the_password(fleet, tls_ca, kw, error):
    store, clock = fleet
    smtp = Smtp(tls=tls_ca, user="gw", password="pw-" + "s" * 12)
    try:
        ctx = ssl.create_default_context(cafile=str(tls_ca.ca))
        sender = EmailSender("127.0.0.1", smtp.port, "gw@example.org", user="gw",
                             ssl_context=ctx, **kw)
        n, al = make(store, clock, {"email": sender}, digest_s=0)
        n.subscribe("email", "ops@example.org", meters=["m-1"])
        al.evaluate()
        n.step()
        (a,) = n.deliveries()[0]["attempt_log"]
        assert a["error"] == error and smtp.messages == []
        assert kw["password"] not in json.dumps(n.deliveries())
    finally:
        smtp.close()
