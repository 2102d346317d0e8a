# The meter's JSON API (docs/web.md): the same data the page shows, for the page's script
# and for any other client. Reads are GET, actions are POST with a small JSON body (or a
# form body, for the page's no-JavaScript fallback). Handlers return (body, status). The
# rarely used actions (web.act) and event list (web.evtext) are loaded per request.
import gc
import json

from web import view
from web.httpd import Bad

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
