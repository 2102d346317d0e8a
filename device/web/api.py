# The meter's JSON API (docs/web.md): the same data the page shows, for the page's script
# and for any other client. Reads are GET, actions are POST with a small JSON body (or a
# form body, for the page's no-JavaScript fallback). Handlers return (body, status).
import gc
import json

from microdot import Response

from web import view
from web.httpd import Bad, mime

_JSON = {"Cache-Control": "no-store", "Content-Type": "application/json"}


def out(r):
    """A handler's result (body, or (body, status)) as a JSON response. A heap too
    fragmented for the whole JSON text (1-1.7 KB blocks, several clients at once: seen on
    the 160k 64-bit port under load) sends it in small pieces instead, written when
    web.httpd's stream gate gives it its turn, rather than failing with a 500."""
    body, st = r if isinstance(r, tuple) else (r, 200)
    try:
        return Response(body, st, _JSON)
    except MemoryError:
        return Response(_pieces(body), st, _JSON)


def _pieces(v):
    """The JSON text of `v`, a piece per scalar and key (a generator; no large block)."""
    if isinstance(v, dict):
        sep = "{"
        for k in v:
            yield sep + json.dumps(k) + ":"
            yield from _pieces(v[k])
            sep = ","
        yield "}" if v else "{}"
    elif isinstance(v, (list, tuple)):
        sep = "["
        for x in v:
            yield sep
            yield from _pieces(x)
            sep = ","
        yield "]" if v else "[]"
    else:
        yield json.dumps(v)


def body(req):
    """The request body as a dict: JSON object or url-encoded form; else Bad(400)."""
    ct = mime(req)
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
        raise Bad(409, "meter not configured: " + "; ".join(view.problems(m.errors, "en")))
    return m.credit


def live(m, lang="en"):
    snap = view.snapshot(m)
    en = view.energy(m)
    return {"t": m.board.time(), "reading": m.reading.as_dict(), "energy": en,
            "relay": {"closed": m.board.relay_closed(), "reason": view.why(m, snap),
                      "retry_in_s": snap.get("retry_in_s", 0)},
            "credit": snap, "text": view.live(m, snap, en, lang)}


def history(m):
    h = m.history
    if not h:
        return {"hourly": [], "daily": [], "today_wh": 0, "month_wh": 0}
    return {"hourly": h.hourly(24), "daily": h.daily(30), "today_wh": h.today_wh(),
            "month_wh": h.month_wh()}


def status(m, srv):
    st = m.status()
    st["web"] = srv.counters()
    st["heap_free"] = gc.mem_free()
    st["relay_closed"] = m.board.relay_closed()
    st["time"] = m.board.time()
    st["rtc_valid"] = m.board.rtc_valid()
    if m.net:               # none without wifi.ssid and mqtt.host
        st["net"] = m.net.stats()
        st["clock"] = m.clock.stats()
    if m.journal:
        st["journal"] = m.journal.stats()
    if m.sync:
        st["sync"] = m.sync.stats()
    if m.credit:
        st["credit_writes"] = m.credit.writes
    return st
