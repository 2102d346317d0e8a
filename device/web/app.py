# The web app's routes: the consumer page, its static assets, the JSON API and the
# PIN-gated admin API, on microdot behind the hardened reader in web.httpd. Few routes,
# each dispatching by name through a table, keep the per-route regex cost low. Only what
# the 2-second live poll needs stays in RAM; the page renderer, the charts, the event list,
# the consumer's actions and the admin code are imported per request and dropped after
# (_use), since they are rarely needed.
import os
import sys

from microdot import Response
from lazy import forget
from web.httpd import Server, Bad, error
from web import api
from web.view import ASSETS

# URL -> (file on flash, content type, cache). css/js URLs carry the build hash: cache long.
STATIC = {
    "s.css": ("s.css.gz", "text/css", "public, max-age=604800, immutable"),
    "app.js": ("app.js.gz", "text/javascript", "public, max-age=604800, immutable"),
    "admin": ("admin.html.gz", "text/html; charset=utf-8", "no-cache"),
    "admin.js": ("admin.js.gz", "text/javascript", "public, max-age=604800, immutable"),
}
# GET /api/<name> and POST /api/<name> (m, request or body) -> JSON-able or (body, status)
_GET = {
    "live": lambda m, q: api.live(m),
    "credit": lambda m, q: api.need_credit(m).snapshot(),
    "history": lambda m, q: api.history(m),
    "events": lambda m, q: _events(m, q),
}
# POST /api/<name> and the page's forms (/<form>) -> the function in web.act
_POST = {"token": "token", "emergency": "emergency", "confirm": "confirm"}
_FORMS = {"topup": "token", "emergency": "emergency", "confirm": "confirm"}
_JSON = {"Cache-Control": "no-store", "Content-Type": "application/json"}
_SVG = {"Content-Type": "image/svg+xml", "Cache-Control": "no-store"}


def _use(name):
    """Import web.<name> for this request only: every module the import brought in (web.*
    and others, e.g. the admin's config and settings) is dropped from sys.modules again. A
    running generator keeps its module's globals alive until it finishes; then the GC
    reclaims the code."""
    before = set(sys.modules)
    __import__("web." + name)
    mod = sys.modules["web." + name]
    for k in list(sys.modules):
        if k not in before:
            forget(k)
    return mod


def _act(name, m, d):
    return getattr(_use("act"), name)(m, d)


def _events(m, req):
    n = req.args.get("n", "10")
    if not n.isdigit() or not 1 <= int(n) <= 32:
        raise Bad(400, "n must be 1..32")
    return _use("evtext").events(m, int(n))


def _static(name):
    fn, ctype, cache = STATIC[name]
    fn = ASSETS + "/" + fn
    try:
        size = os.stat(fn)[6]
        f = open(fn, "rb")
    except OSError:
        return error(500, "asset missing: rebuild the bundle")
    return Response(f, 200, {"Content-Type": ctype, "Content-Encoding": "gzip",
                             "Content-Length": str(size), "Cache-Control": cache,
                             "X-Content-Type-Options": "nosniff"})


def out(r):
    if isinstance(r, tuple):
        return r[0], r[1], _JSON
    return r, 200, _JSON


def build(m):
    app = Server()
    app.gate = None  # the PIN gate, made on the first admin request

    @app.get("/")
    async def index(req):
        return _use("page").page(m)

    @app.get("/<name>")
    async def asset(req, name):
        return _static(name) if name in STATIC else error(404, "not found")

    @app.post("/<name>")
    async def form(req, name):
        # the page's forms, for browsers without JavaScript: act, then show the page
        fn = _FORMS.get(name)
        if not fn:
            return error(404, "not found")
        try:
            r, st = _act(fn, m, api.body(req))
        except Bad as e:
            return _use("page").page(m, e.reason, False)
        return _use("page").page(m, r.get("message"), r.get("ok", st == 200))

    @app.route("/api/<name>", methods=["GET", "POST"])
    async def api_route(req, name):
        try:
            if req.method == "POST":
                fn = _POST.get(name)
                return out(_act(fn, m, api.body(req))) if fn else error(404, "no such API")
            if name == "status":
                return out(api.status(m, app))
            if name == "history.svg":
                span = req.args.get("span", "day")
                if span not in ("day", "month"):
                    raise Bad(400, "span must be day or month")
                return getattr(_use("chart"), span)(m), 200, _SVG
            fn = _GET.get(name)
            return out(fn(m, req)) if fn else error(404, "no such API")
        except Bad as e:
            return error(e.status, e.reason)

    @app.route("/api/admin/<name>", methods=["GET", "POST"])
    async def admin_route(req, name):
        try:
            if app.gate is None:
                app.gate = _use("pin").Pin(m)
            return _use("admin").handle(m, app.gate, req, name)
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
