# The web app's routes: the consumer page, its static assets, the JSON API and the
# PIN-gated admin API, on microdot behind the hardened reader in web.httpd. Few routes,
# each dispatching by name through a table, keep the per-route regex cost low. The app is
# built with what the 2-second live poll needs; the page renderer, charts, event list,
# consumer actions and admin code are imported when first asked for and then stay: dropping
# them after each request saved 0.1-0.9 KB of the 32-bit heap apiece frozen (3.3 KB in all),
# not worth the indirection (docs/architecture.md "Memory tricks").
import os

from microdot import Response
from web.httpd import Server, Bad, error
from web.guard import Guard
from web import api
from web.api import out
from web.view import ASSETS, LANGS, cookie, lang as pick_lang

# URL -> (file on flash, content type, cache). css/js URLs carry the build hash: cache long.
# The admin page is one file per language (%s: the request's).
STATIC = {
    "s.css": ("s.css.gz", "text/css", "public, max-age=604800, immutable"),
    "app.js": ("app.js.gz", "text/javascript", "public, max-age=604800, immutable"),
    "admin": ("admin.%s.html.gz", "text/html; charset=utf-8", "no-cache"),
    "admin.js": ("admin.js.gz", "text/javascript", "public, max-age=604800, immutable"),
}
# GET /api/<name> and POST /api/<name> (m, request or body) -> JSON-able or (body, status)
_GET = {
    "live": lambda m, q: api.live(m, lang_of(m, q)),
    "credit": lambda m, q: api.need_credit(m).snapshot(),
    "history": lambda m, q: api.history(m),
    "events": lambda m, q: _events(m, q),
    "topups": lambda m, q: _topups(m, q),
}
# POST /api/<name> and the page's forms (/<form>) -> the function in web.actions
_POST = {"token": "token", "emergency": "emergency", "confirm": "confirm"}
_FORMS = {"topup": "token", "emergency": "emergency", "confirm": "confirm"}
_SVG = {"Content-Type": "image/svg+xml", "Cache-Control": "no-store"}
_HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


def lang_of(m, req):
    """The request's language (web.view.lang): ?lang=, the lang cookie, web.lang, the
    browser's Accept-Language. An unknown ?lang= is a 400."""
    asked = req.args.get("lang")
    if asked is not None and asked not in LANGS:
        raise Bad(400, "lang must be one of " + ", ".join(LANGS))
    return pick_lang(asked, req.cookies.get("lang"), m.cfg["web.lang"],
                     req.headers.get("Accept-Language"))


def _act(name, m, d, lang):
    from web import actions
    return getattr(actions, name)(m, d, lang)


def _page(m, token, lang, message=None, ok=True, cookie=False):
    from web import page
    return page.page(m, token, lang, message, ok, cookie)


def _events(m, req):
    n = req.args.get("n", "10")
    if not n.isdigit() or not 1 <= int(n) <= 32:
        raise Bad(400, "n must be 1..32")
    from web.event_text import events
    return events(m, int(n), lang_of(m, req))


def _topups(m, req):
    from web.event_text import topups
    return topups(m, lang_of(m, req))


def _span(req):
    span = req.args.get("span", "day")
    if span not in ("day", "month"):
        raise Bad(400, "span must be day or month")
    return span


def _static(name, lang):
    fn, ctype, cache = STATIC[name]
    fn = ASSETS + "/" + (fn % lang if "%" in fn else fn)
    try:
        size = os.stat(fn)[6]
        f = open(fn, "rb")
    except OSError:
        return error(500, "asset missing: rebuild the bundle")
    return Response(f, 200, {"Content-Type": ctype, "Content-Encoding": "gzip",
                             "Content-Length": str(size), "Cache-Control": cache})


def names(cfg):
    """The names the meter answers to besides the board's addresses: its mDNS name and the
    configured web.hosts (docs/web.md "Cross-site requests")."""
    return ("meter-%s.local" % cfg["meter.id"],) + tuple(cfg["web.hosts"])


def build(m):
    app = Server(Guard(m.board, names(m.cfg)))
    app.gate = None  # the PIN gate, made on the first admin request

    @app.get("/")
    async def index(req):
        try:
            lang = lang_of(m, req)
        except Bad as e:
            return error(e.status, e.reason)
        return _page(m, app.guard.token, lang, cookie="lang" in req.args)

    @app.get("/<name>")
    async def asset(req, name):
        if name not in STATIC:
            return error(404, "not found")
        if name != "admin":
            return _static(name, "")
        try:
            lang = lang_of(m, req)
        except Bad as e:
            return error(e.status, e.reason)
        r = _static(name, lang)
        if "lang" in req.args:      # a pick on the admin page is remembered as on the page
            r.headers["Set-Cookie"] = cookie(lang)
        return r

    @app.post("/<name>")
    async def form(req, name):
        # the page's forms, for browsers without JavaScript: act, then show the page
        fn = _FORMS.get(name)
        if not fn:
            return error(404, "not found")
        try:
            lang = lang_of(m, req)  # cookie, setting or browser (a form posts no ?lang=)
        except Bad as e:
            return error(e.status, e.reason)
        try:
            r, st = _act(fn, m, api.body(req), lang)
        except Bad as e:
            return _page(m, app.guard.token, lang, e.reason, False)
        return _page(m, app.guard.token, lang, r.get("message"), r.get("ok", st == 200))

    @app.route("/api/<name>", methods=["GET", "POST"])
    async def api_route(req, name):
        try:
            if req.method == "POST":
                fn = _POST.get(name)
                return (out(_act(fn, m, api.body(req), lang_of(m, req))) if fn
                        else error(404, "no such API"))
            if name == "status":
                return out(api.status(m, app))
            if name == "history.svg":
                from web import chart
                return getattr(chart, _span(req) + "_svg")(m), 200, _SVG
            if name == "chart":   # the page's chart card: axes, summary and table in words
                from web import chart
                return getattr(chart, _span(req))(m, lang_of(m, req)), 200, _HTML
            fn = _GET.get(name)
            return out(fn(m, req)) if fn else error(404, "no such API")
        except Bad as e:
            return error(e.status, e.reason)

    @app.route("/api/admin/<name>", methods=["GET", "POST"])
    async def admin_route(req, name):
        try:
            from web import admin
            if app.gate is None:
                from web.pin import Pin
                app.gate = Pin(m)
            return admin.handle(m, app.gate, req, name, lang_of(m, req))
        except Bad as e:
            return error(e.status, e.reason)

    @app.errorhandler(404)
    async def not_found(req):
        return error(404, "not found")

    @app.errorhandler(405)
    async def bad_method(req):
        return error(405, "method not allowed")

    @app.errorhandler(500)
    async def failed(req):
        return error(500, "internal error")

    return app
