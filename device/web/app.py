# The web app's routes: the consumer page, its static assets, the JSON API and the
# PIN-gated admin API, on microdot behind the hardened reader in web.httpd. Few routes,
# each dispatching by name through a table, keep the per-route regex cost low.
from web.httpd import Server, Bad, error
from web import api, page
from web.pin import Pin

# GET /api/<name> and POST /api/<name> (m, request or body) -> JSON-able or (body, status)
_GET = {
    "live": lambda m, q: api.live(m),
    "credit": lambda m, q: api.need_credit(m).snapshot(),
    "history": lambda m, q: api.history(m),
    "events": api.events,
}
_POST = {"token": api.token, "emergency": api.emergency, "confirm": api.confirm}
_FORMS = {"topup": api.token, "emergency": api.emergency, "confirm": api.confirm}
_JSON = {"Cache-Control": "no-store", "Content-Type": "application/json"}


def _out(r):
    if isinstance(r, tuple):
        return r[0], r[1], _JSON
    return r, 200, _JSON


def build(m):
    app = Server()
    gate = Pin(m)

    @app.get("/")
    async def index(req):
        return page.page(m)

    @app.get("/<name>")
    async def asset(req, name):
        if "/" + name in page.STATIC:
            return page.static("/" + name)
        return error(404, "not found")

    @app.post("/<name>")
    async def form(req, name):
        # the page's forms, for browsers without JavaScript: act, then show the page
        fn = _FORMS.get(name)
        if not fn:
            return error(404, "not found")
        try:
            r, st = fn(m, api.body(req))
        except Bad as e:
            return page.page(m, e.reason, False)
        return page.page(m, r.get("message"), r.get("ok", st == 200))

    @app.route("/api/<name>", methods=["GET", "POST"])
    async def api_route(req, name):
        try:
            if req.method == "POST":
                fn = _POST.get(name)
                return _out(fn(m, api.body(req))) if fn else error(404, "no such API")
            if name == "status":
                return _out(api.status(m, app))
            if name == "history.svg":
                return api.history_svg(m, req), 200, {"Content-Type": "image/svg+xml",
                                                       "Cache-Control": "no-store"}
            fn = _GET.get(name)
            return _out(fn(m, req)) if fn else error(404, "no such API")
        except Bad as e:
            return error(e.status, e.reason)

    @app.route("/api/admin/<name>", methods=["GET", "POST"])
    async def admin_route(req, name):
        try:
            return _admin(m, app, gate, req, name)
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


def _admin(m, app, gate, req, name):
    from web import admin  # loaded on first admin use only: consumers never pay its RAM
    if req.method == "POST":
        d = api.body(req)
        if name == "login":
            if not gate.enabled():
                return error(403, "admin is disabled: no PIN provisioned (web.pin_hash)")
            tok, lock = gate.login(d.get("pin"))
            if tok:
                return _out({"ok": True, "session": tok})
            return _out(({"ok": False, "locked_s": lock, "message": (
                "Wrong PIN. Locked: try again in %d s." % lock) if lock else "Wrong PIN."}, 403))
    if not gate.check(req):
        return error(401, "log in with the admin PIN first")
    if req.method == "GET":
        if name == "settings":
            return _out(admin.settings(m))
        raise Bad(404, "no such admin API")
    if name == "logout":
        gate.logout()
        return _out({"ok": True})
    if name == "settings":
        return _out(admin.save(m, d))
    if name == "pin":
        return _out(admin.set_pin(m, gate, d))
    if name == "relay":
        return _out(admin.relay(m, d))
    if name == "restart":
        return _out(admin.restart(m))
    raise Bad(404, "no such admin API")
