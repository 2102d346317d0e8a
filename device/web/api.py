# The meter's JSON API (docs/web.md): the same data the page shows, for the page's script
# and for any other client. Reads are GET, actions are POST with a small JSON body (or a
# form body, for the page's no-JavaScript fallback). Handlers return (body, status).
import gc
import json

from web import view
from web.httpd import Bad

_DIGITS = "0123456789"


def body(req):
    """The request body as a dict: JSON object or url-encoded form; else Bad(400)."""
    ct = req.headers.get("Content-Type", "").split(";")[0].strip()
    if ct == "application/x-www-form-urlencoded":
        return req.form or {}
    if not req.body:
        return {}
    if ct != "application/json":
        raise Bad(415, "send a JSON object (Content-Type: application/json)")
    try:
        d = json.loads(req.body)
    except (ValueError, UnicodeError):
        raise Bad(400, "malformed JSON")
    if not isinstance(d, dict):
        raise Bad(400, "the JSON body must be an object")
    return d


def need_credit(m):
    if not m.credit:
        raise Bad(409, "meter not configured: " + "; ".join(m.errors))
    return m.credit


def live(m):
    snap = view.snapshot(m)
    en = view.energy(m)
    return {"t": m.board.time(), "reading": m.reading.as_dict(), "energy": en,
            "relay": {"closed": m.board.relay_closed(), "reason": view.why(m, snap),
                      "retry_in_s": snap.get("retry_in_s", 0)},
            "credit": snap, "text": view.live(m, snap, en)}


def history(m):
    j = m.journal
    if not j:
        return {"hourly": [], "daily": [], "today_wh": 0, "month_wh": 0}
    return {"hourly": j.hourly(24), "daily": j.daily(30), "today_wh": j.today_wh(),
            "month_wh": j.month_wh()}


def status(m, srv):
    st = m.status()
    st["web"] = srv.counters()
    st["heap_free"] = gc.mem_free()
    st["relay_closed"] = m.board.relay_closed()
    st["time"] = m.board.time()
    st["rtc_valid"] = m.board.rtc_valid()
    if m.journal:
        st["journal"] = m.journal.stats()
    if m.sync:
        st["sync"] = m.sync.stats()
    if m.credit:
        st["credit_writes"] = m.credit.writes
    return st


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


def events(m, req):
    n = req.args.get("n", "10")
    if not n.isdigit() or not 1 <= int(n) <= 32:
        raise Bad(400, "n must be 1..32")
    return view.events(m, int(n))
