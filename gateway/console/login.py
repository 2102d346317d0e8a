"""Log in and out. The login form carries a double-submit CSRF token (a cookie and a field
that must match): there is no session yet to hold one."""
import hmac
import secrets

from microdot import Response

from gateway.console import accounts, audit
from gateway.console.web import COOKIE, LOGIN_COOKIE


def _safe_next(v):
    """Only a path on this site (no //host, no scheme): no open redirect after login."""
    return v if v.startswith("/") and not v.startswith("//") and "\\" not in v else "/"


def add(console):
    app = console.api.app

    def form(req, status=200, message="", name=""):
        token = secrets.token_urlsafe(24)
        res = console.render(req, "login.html", status=status, message=message, name=name,
                             login_csrf=token, next=_safe_next(req.args.get("next", "/")))
        return console.set_cookie(res, req, LOGIN_COOKIE, token, 900)

    @app.route("/login", methods=["GET"])
    def console_login_form(req):
        return form(req)

    @app.route("/login", methods=["POST"])
    def console_login(req):
        f = req.form or {}
        want = req.cookies.get(LOGIN_COOKIE) or ""
        if not want or not hmac.compare_digest((f.get("csrf") or "").encode(), want.encode()):
            return form(req, 403, "the form's CSRF token is missing or wrong: try again")
        name = (f.get("name") or "").strip()
        try:
            s = accounts.login(console.store, name, f.get("password") or "")
        except accounts.Locked as e:
            return form(req, 429, str(e), name)
        if s is None:
            return form(req, 401, "wrong name or password", name)
        audit.record(console.store, name, "login", name)
        res = Response.redirect(_safe_next(f.get("next") or "/"), status_code=303)
        console.set_cookie(res, req, LOGIN_COOKIE, "", 0)
        return console.set_cookie(res, req, COOKIE, s["token"], accounts.SESSION_S)

    @console.page("/logout", methods=("POST",))
    def logout(ctx):
        accounts.logout(console.store, ctx.req.cookies.get(COOKIE))
        res = Response.redirect("/login", status_code=303)
        return console.set_cookie(res, ctx.req, COOKIE, "", 0)
