# The consumer's actions (POST /api/token, /api/emergency, /api/confirm and the page's
# no-JavaScript forms). Each returns (body, status); the consumer-facing message comes from
# the message catalogue in the request's language (the credit module's own English message
# stays in the event log and MQTT answers).
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


def token(m, d, lang="en"):
    """Enter a top-up code; the result in words from the catalogue."""
    c = need_credit(m)
    code = code_of(d)
    if code is None:
        return {"ok": False, "result": "format",
                "message": view.words(("tok.format",), lang)["tok.format"]}, 400
    r = c.enter_token(code)
    res = r.get("result")
    r["ok"] = res == "accepted"
    r["credit"] = c.snapshot()["credit"]
    w = view.words(("tok." + str(res), "tok.set", "tok.nokey", "tok.locked"), lang)
    lock = r.get("locked_s") or 0
    if res == "accepted":
        msg = w["tok.accepted"] % view.money(m, r["amount"]) if r.get("amount") else w["tok.set"]
    elif res == "invalid" and not c.gate.key:
        msg = w["tok.nokey"]
    else:
        msg = w.get("tok." + str(res), r.get("message", ""))
        if "%d" in msg:
            msg = msg % lock
        elif lock:                       # a wrong code that started the lock says both
            msg += " " + w["tok.locked"] % lock
    r["message"] = msg
    return r, 200


def _action(m, fn, done, lang):
    """The credit action's outcome in words: "act.<why>" when it says why not."""
    r = fn()
    ok = r["ok"]
    key = done if ok else "act." + r.get("why", "no")
    t = view.words((key, "act.no"), lang)
    t = t.get(key, t["act.no"])
    if "%s" in t:
        t = t % view.money(m, r.get("amount", 0))
    return {"ok": ok, "message": t}, (200 if ok else 409)


def emergency(m, d, lang="en"):
    c = need_credit(m)
    return _action(m, c.activate_emergency, "act.em_ok", lang)


def confirm(m, d, lang="en"):
    c = need_credit(m)
    return _action(m, c.confirm_reconnect, "act.re_ok", lang)
