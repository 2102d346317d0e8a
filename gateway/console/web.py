"""The console's plumbing: routes behind a session, role and CSRF check, templates (Jinja2,
autoescaped), in-process calls of the API's own handlers, money and local-time formatting,
CSV answers and the static assets.

Every read and write a page makes goes through `Console.call("METHOD /api/path", ...)`,
which runs the REST API's handler of that route (gateway/api.py) with the same validation,
so the console holds no second copy of the API's logic."""
import csv
import decimal
import hmac
import io
import json
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import jinja2
from microdot import Response
from microdot.microdot import MultiDict

from gateway.http import ApiError
from gateway.console import accounts, audit

HERE = Path(__file__).resolve().parent
COOKIE = "pm_session"
LOGIN_COOKIE = "pm_login"   # double-submit CSRF token of the login form (no session yet)
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
           "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
PER_PAGE = 50


class Call:
    """What an API handler reads of a request: args, headers and a JSON body."""

    def __init__(self, args=None, body=None, headers=None):
        self.args = MultiDict()
        for k, v in (args or {}).items():
            if v not in (None, ""):
                self.args[k] = str(v)
        self.body = json.dumps(body).encode() if body is not None else b""
        self.headers = headers or {}


class Problem(ApiError):
    """An API answer >= 400, with the problems list a plan's validation gives."""

    def __init__(self, status, message, problems=()):
        super().__init__(status, message)
        self.problems = list(problems)


class Console:
    def __init__(self, api, store, currency="", decimals=2, assets=None, secure_cookies=False):
        self.api, self.store = api, store
        self.currency, self.decimals = currency, decimals
        self.offset_min = store.utc_offset_min
        self.assets = Path(assets) if assets else None   # built uPlot (host_tools/consoleassets.py)
        self.secure_cookies = secure_cookies
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                                      autoescape=True)
        self.env.filters.update(money=self.money, when=self.when, group_token=group_token)

    # -- calls into the API -------------------------------------------------------------------
    def call(self, op, args=None, body=None, headers=None, **path):
        return self.call_status(op, args, body, headers, **path)[1]

    def call_status(self, op, args=None, body=None, headers=None, **path):
        """(HTTP status, answer) of the API route `op` ("GET /api/meters/{meter_id}", path
        parameters as keywords); Problem for a refusal."""
        try:
            res = self.api.ops[op](Call(args, body, headers), **path)
        except Problem:
            raise
        except ApiError as e:
            raise Problem(e.status, e.message)
        if not isinstance(res, Response):
            return 200, res
        data = res.body
        if isinstance(data, bytes) and "json" in str(res.headers.get("Content-Type", "")):
            data = json.loads(data)
        if res.status_code >= 400:
            raise Problem(res.status_code, data.get("error", "refused"), data.get("problems", ()))
        return res.status_code, data

    # -- formatting ---------------------------------------------------------------------------
    def money(self, minor, code=True):
        """Integer minor units as major units, exactly (never a float)."""
        if minor is None:
            return "—"
        v = decimal.Decimal(str(minor)).scaleb(-self.decimals).quantize(
            decimal.Decimal(1).scaleb(-self.decimals), rounding=decimal.ROUND_HALF_UP)
        text = "{:,}".format(v)
        return "%s %s" % (self.currency, text) if code and self.currency else text

    def parse_money(self, text, name="amount"):
        """Major units typed by an operator -> integer minor units, or ValueError saying why."""
        try:
            v = decimal.Decimal((text or "").strip().replace(",", ""))
        except decimal.InvalidOperation:
            raise ValueError("%s: enter a number such as 100.50" % name)
        if not v.is_finite() or v <= 0:
            raise ValueError("%s: must be more than zero" % name)
        minor = v.scaleb(self.decimals)
        if minor != minor.to_integral_value():
            raise ValueError("%s: at most %d decimal places" % (name, self.decimals))
        if minor > 10 ** 12:
            raise ValueError("%s: too large" % name)
        return int(minor)

    def when(self, t, fmt="%Y-%m-%d %H:%M"):
        """Epoch seconds in the site's local time (the gateway's --utc-offset-min)."""
        if t is None:
            return "never"
        return time.strftime(fmt, time.gmtime(int(t) + self.offset_min * 60))

    def zone(self):
        h, m = divmod(abs(self.offset_min), 60)
        return "UTC%s%02d:%02d" % ("-" if self.offset_min < 0 else "+", h, m)

    # -- routes -------------------------------------------------------------------------------
    def page(self, path, perm="read", methods=("GET",)):
        """A console route: a live session whose role has `perm`, and on POST the session's
        CSRF token in the form. view(ctx, **path) returns a Response."""
        def deco(view):
            def handler(req, **kw):
                sess = accounts.session(self.store, req.cookies.get(COOKIE))
                if sess is None:
                    if req.method == "GET":
                        return Response.redirect("/login?next=" + quote(req.url, safe="/?=&"))
                    return self.error_page(req, None, 401, "your session has ended: log in again")
                ctx = Ctx(self, req, sess)
                if req.method == "POST" and not hmac.compare_digest(
                        ((req.form or {}).get("csrf") or "").encode(), sess["csrf"].encode()):
                    return self.error_page(req, ctx, 403, "the form's CSRF token is missing or "
                                           "wrong: reload the page and submit it again")
                if perm not in accounts.CAN[sess["role"]]:
                    return self.error_page(req, ctx, 403, "the %s role may not do this"
                                           % sess["role"])
                try:
                    return view(ctx, **kw)
                except ApiError as e:
                    return self.error_page(req, ctx, e.status, e.message)
            handler.__name__ = "console_" + view.__name__
            self.api.app.route(path, methods=list(methods))(handler)
            return view
        return deco

    def render(self, req, template, status=200, ctx=None, **values):
        html = self.env.get_template(template).render(
            ctx=ctx, console=self, path=req.path, **values)
        return Response(html, status_code=status,
                        headers=dict(HEADERS, **{"Content-Type": "text/html; charset=utf-8"}))

    def error_page(self, req, ctx, status, message):
        return self.render(req, "error.html", status=status, ctx=ctx, status_code=status,
                           message=message)

    def set_cookie(self, res, req, name, value, max_age):
        """SameSite=Strict, HttpOnly, and Secure when the console is reached over TLS."""
        c = "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict" % (name, value, max_age)
        if self.secure_cookies or req.scheme == "https":
            c += "; Secure"
        res.headers.setdefault("Set-Cookie", []).append(c)
        return res


class Ctx:
    """One request of a signed-in operator."""

    def __init__(self, console, req, session):
        self.console, self.req, self.session = console, req, session
        self.operator, self.role, self.csrf = session["operator"], session["role"], session["csrf"]
        self.form = req.form or MultiDict()

    def can(self, perm):
        return perm in accounts.CAN[self.role]

    def render(self, template, status=200, **values):
        return self.console.render(self.req, template, status=status, ctx=self, **values)

    def call(self, op, *a, **kw):
        return self.console.call(op, *a, **kw)

    def audit(self, action, target, before, after):
        audit.record(self.console.store, self.operator, action, target, before, after)

    def arg(self, name, default=""):
        return self.req.args.get(name, default)

    def page_number(self):
        v = self.req.args.get("page", "1")
        return int(v) if v.isdigit() and 0 < int(v) < 10 ** 6 else 1


def group_token(code):
    """A token as groups of three digits, read aloud or typed on a keypad more easily."""
    s = str(code)
    return " ".join(s[i:i + 3] for i in range(0, len(s), 3))


def csv_response(filename, columns, rows):
    """rows: dicts; columns: (key, heading). A cell a spreadsheet would run as a formula is
    quoted with a leading apostrophe."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([h for _, h in columns])
    for r in rows:
        w.writerow([_cell(r.get(k)) for k, _ in columns])
    return Response(out.getvalue(), headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="%s"' % filename})


def _cell(v):
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return "" if v is None else v


def new_request_id():
    return secrets.token_urlsafe(16)
