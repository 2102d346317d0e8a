"""Webhook sender: POST the JSON body, signed as Stripe signs its webhooks.

Header `X-Gateway-Signature: t=<epoch s>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
shared secret. The receiver recomputes the HMAC over the timestamp and the raw body, compares
in constant time, and refuses a timestamp older than its tolerance (a replayed request keeps
its old timestamp, and changing it breaks the signature). docs/gateway.md "Webhooks".
"""
import hashlib
import hmac
import time
import urllib.error
import urllib.request

from gateway.notify import SendError

HEADER = "X-Gateway-Signature"
TOLERANCE_S = 300


def sign(secret, body, t):
    mac = hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def verify(secret, body, header, now, tolerance_s=TOLERANCE_S):
    """True if header signs body with secret within tolerance_s of now (what a receiver does)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - t) > tolerance_s:
        return False
    want = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(want, parts.get("v1", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as a failure: following it would send the signed body (or a
    GET without it) to a place the subscription does not name."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class WebhookSender:
    def __init__(self, secret, timeout_s=10.0, clock=time.time):
        """secret: bytes, from a file or the environment (gateway/__main__.py), never logged."""
        self.secret = secret
        self.timeout_s = timeout_s
        self.clock = clock

    def __call__(self, url, body):
        data = body.encode()
        req = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "prepaid-meter-gateway",
            HEADER: sign(self.secret, data, int(self.clock()))})
        try:
            with _OPENER.open(req, timeout=self.timeout_s) as r:
                return r.status
        except urllib.error.HTTPError as e:   # answered, but not 2xx (3xx too): retried
            raise SendError("HTTP %d" % e.code, e.code)
