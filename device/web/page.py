# The consumer page, rendered by the meter: the template (page.<lang>.html, on flash) is streamed
# line by line with its {name} slots filled from the view, so the readings are in the HTML
# itself (works with JavaScript off) and no page-sized string is ever built in RAM.
from micropython import const

from microdot import Response

from web import chart
from web.event_text import events, topups
from web.view import ASSETS, cookie as lang_cookie, esc, snapshot, energy, lines, live, problems, words

_CHUNK = const(512)  # bytes per socket write
# The one page being streamed: web.httpd writes one streamed body at a time (its stream
# gate), so they all share this buffer instead of making a chunk-sized block per write.
_BUF = bytearray(_CHUNK)


# (the anti-framing and content-security headers go on every response: web.httpd.SAFE)
HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


def _errors(m, w, lang):
    if not m.errors:
        yield ""
        return
    yield '<div class="alert" role="alert"><p>%s</p><ul>' % esc(w["err.config"])
    for e in problems(m.errors, lang):
        yield "<li>%s</li>" % esc(e)
    yield "</ul></div>"


def _events(m, lang):
    for ev in events(m, 8, lang):
        yield "<li><time>%s</time>%s</li>" % (ev["at"], esc(ev["text"]))


def _topups(m, lang, w):
    tus = topups(m, lang)
    for tu in tus:
        yield "<li><time>%s</time>%s</li>" % (tu["at"], esc(tu["text"]))
    if not tus:
        yield "<li>%s</li>" % esc(w["topups.none"])


def status_line(m, w):
    s = w["stat.windows"] % (m.windows, m.missed)
    if m.sync:
        s += " \u00b7 " + w["stat.online" if m.sync.stats()["online"] else "stat.offline"]
    if m.journal:
        s += " \u00b7 " + w["stat.backlog"] % m.journal.backlog()
    if m.quality:
        c = m.quality.counts()
        q = ", ".join("%d %s" % (c[k], w.get("pq." + k, k)) for k in sorted(c) if c[k])
        if q:
            s += " \u00b7 " + w["stat.pq"] % q
    return s


def values(m, csrf, lang, msg=None, ok=True):
    snap = snapshot(m)
    t = live(m, snap, energy(m), lang)
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
    w = words(("err.config", "stat.windows", "stat.online", "stat.offline", "stat.backlog",
               "stat.pq", "pq.sag", "pq.swell", "pq.under_voltage", "pq.over_voltage",
               "pq.frequency", "pq.over_current", "topups.none"), lang)
    t["stat"] = esc(status_line(m, w))
    cfg = m.cfg
    who = " \u00b7 ".join(v for v in (cfg["consumer.name"], cfg["consumer.account"]) if v)
    t["who"], t["who_h"] = esc(who), "" if who else "hidden"
    t["buy"], t["buy_h"] = esc(cfg["consumer.buy"]), "" if cfg["consumer.buy"] else "hidden"
    # no PIN provisioned: admin is disabled (403), so the link gives way to an explanation
    pin = cfg["web.pin_hash"]
    t["admin_h"], t["nopin_h"] = ("", "hidden") if pin else ("hidden", "")
    t["csrf"] = csrf  # hex: the guard's per-boot token for the no-JavaScript forms
    t["errors"] = lambda: _errors(m, w, lang)
    t["chart_day"] = lambda: chart.day(m, lang)
    t["chart_month"] = lambda: chart.month(m, lang)
    t["events"] = lambda: _events(m, lang)
    t["topups"] = lambda: _topups(m, lang, w)
    return t


def render(m, csrf, lang, msg=None, ok=True):
    """Generator of HTML chunks (microdot streams a sync generator body). The values are
    taken before the first byte is sent, so a failure is still a clean 500."""
    return _stream(values(m, csrf, lang, msg, ok), lang)


def _stream(vals, lang):
    buf = _BUF
    n = 0
    for line in lines(ASSETS + "/page.%s.html" % lang):
        line += "\n"
        i = 0
        while True:
            j = line.find("{", i)
            if j < 0:
                n = yield from _put(buf, n, line[i:])
                break
            k = line.find("}", j)
            n = yield from _put(buf, n, line[i:j])
            v = vals[line[j + 1:k]]
            if callable(v):
                for piece in v():
                    n = yield from _put(buf, n, piece)
            else:
                n = yield from _put(buf, n, v)
            i = k + 1
    if n:
        yield memoryview(buf)[:n]


def _put(buf, n, s):
    """Copy `s` into `buf` from `n`, yielding the buffer each time it fills; returns the new n.
    Only small blocks are made (each piece's encoding): a page-sized or chunk-sized one may
    not exist in a fragmented heap while other clients are served."""
    b = s.encode()
    if n + len(b) < _CHUNK:   # the usual case: no slice made
        buf[n:n + len(b)] = b
        return n + len(b)
    b = memoryview(b)
    i = 0
    while i < len(b):
        k = min(len(b) - i, _CHUNK - n)
        buf[n:n + k] = b[i:i + k]
        n += k
        i += k
        if n == _CHUNK:
            yield buf   # written out before the generator resumes and refills it
            n = 0
    return n


def page(m, csrf, lang, msg=None, ok=True, cookie=False):
    """The page in `lang`; cookie=True (the consumer picked the language) remembers it."""
    h = HTML_HEADERS
    if cookie:
        h = dict(h)
        h["Set-Cookie"] = lang_cookie(lang)
    return Response(render(m, csrf, lang, msg, ok), 200, h)
