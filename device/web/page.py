# The consumer page, rendered by the meter: the template (page.html, on flash) is streamed
# line by line with its {name} slots filled from the view, so the readings are in the HTML
# itself (works with JavaScript off) and no page-sized string is ever built in RAM.
# Loaded per page view and dropped after (web.app._use): page loads are rare, polls are not.
from microdot import Response

from web import chart
from web.evtext import events
from web.view import ASSETS, esc, snapshot, energy, live

_CHUNK = 512  # bytes per socket write


HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"}


def _errors(m):
    if not m.errors:
        yield ""
        return
    yield '<div class="alert" role="alert"><p>Configuration errors (supply held off):</p><ul>'
    for e in m.errors:
        yield "<li>%s</li>" % esc(e)
    yield "</ul></div>"


def _events(m):
    for ev in events(m, 8):
        yield "<li><time>%s</time>%s</li>" % (ev["at"], esc(ev["text"]))


def status_line(m):
    s = "%d windows, %d missed" % (m.windows, m.missed)
    if m.sync:
        s += " \u00b7 server " + ("connected" if m.sync.stats()["online"] else "offline")
    if m.journal:
        s += " \u00b7 %d records to send" % m.journal.backlog()
    return s


def values(m, msg=None, ok=True):
    snap = snapshot(m)
    t = live(m, snap, energy(m))
    for k in t:
        v = t[k]
        if k[-2:] == "_h":
            t[k] = "hidden" if v else ""
        else:
            t[k] = esc(v)
    t["id"] = esc(m.cfg["meter.id"] or "?")
    t["msg"] = esc(msg or "")
    t["msg_h"] = "" if msg else "hidden"
    t["msg_c"] = "msg " + ("ok" if ok else "warn")
    t["stat"] = esc(status_line(m))
    t["errors"] = lambda: _errors(m)
    t["chart_day"] = lambda: chart.day(m)
    t["chart_month"] = lambda: chart.month(m)
    t["events"] = lambda: _events(m)
    return t


def render(m, msg=None, ok=True):
    """Generator of HTML chunks (microdot streams a sync generator body). The values are
    taken before the first byte is sent, so a failure is still a clean 500."""
    return _stream(values(m, msg, ok))


def _stream(vals):
    out = []
    size = 0
    with open(ASSETS + "/page.html") as f:
        for line in f:
            i = 0
            while True:
                j = line.find("{", i)
                if j < 0:
                    out.append(line[i:])
                    size += len(line) - i
                    break
                k = line.find("}", j)
                out.append(line[i:j])
                v = vals[line[j + 1:k]]
                if callable(v):
                    for piece in v():
                        out.append(piece)
                        size += len(piece)
                else:
                    out.append(v)
                    size += len(v)
                i = k + 1
            if size >= _CHUNK:
                yield "".join(out)
                out = []
                size = 0
    if out:
        yield "".join(out)


def page(m, msg=None, ok=True):
    return Response(render(m, msg, ok), 200, HTML_HEADERS)
