# The consumer's actions (POST /api/token, /api/emergency, /api/confirm and the page's
# no-JavaScript forms): loaded per request and dropped after (web.app._use), since they
# are rare next to the live poll. Each returns (body, status).
from web import view
from web.api import need_credit

_DIGITS = "0123456789"


def code_of(d):
    """Digits of a typed code: spaces and dashes allowed, 9-15 digits; else None."""
    c = d.get("code")
    if not isinstance(c, str) or len(c) > 24:
        return None
    c = c.replace(" ", "").replace("-", "")
    if not 9 <= len(c) <= 15:
        return None
    for ch in c:
        if ch not in _DIGITS:
            return None
    return c


def token(m, d):
    """Enter a top-up code; the consumer-facing message is the credit module's."""
    c = need_credit(m)
    code = code_of(d)
    if code is None:
        return {"ok": False, "result": "format",
                "message": view.words(("tok.format",))["tok.format"]}, 400
    r = c.enter_token(code)
    r["ok"] = r.get("result") == "accepted"
    r["credit"] = c.snapshot()["credit"]
    return r, 200


def _action(fn, done):
    r = fn()
    if not isinstance(r, dict):
        r = {"ok": r is not False}
    ok = r.get("ok", True)
    return {"ok": ok, "message": r.get("message") or (done if ok else "Not possible now.")}, (
        200 if ok else 409)


def emergency(m, d):
    c = need_credit(m)
    return _action(c.activate_emergency, "Emergency credit activated.")


def confirm(m, d):
    c = need_credit(m)
    return _action(c.confirm_reconnect, "Reconnecting.")
