"""Tariffs and billing plans: listed with the meters that use each, and edited as JSON, the
API's validation messages shown beside the document (its PUT operations do the checking)."""
import json

from microdot import Response

from gateway.console import tariff_form
from gateway.console.web import Problem

# kind -> (API path of one, field of the row holding the document, audit action)
KINDS = {"tariffs": ("/api/tariffs/{name}", "spec", "put_tariff"),
         "plans": ("/api/billing/plans/{name}", "plan", "put_plan")}


def add(console):
    @console.page("/tariffs")
    def listing(ctx):
        tariffs = ctx.call("GET /api/tariffs")["tariffs"]
        plans = ctx.call("GET /api/billing/plans")["plans"]
        meters = ctx.call("GET /api/meters")["meters"]
        for p in plans:
            p["meters"] = [m["id"] for m in meters if m.get("billing_plan") == p["name"]]
        return ctx.render("tariffs.html", tariffs=tariffs, plans=plans)

    def stored(ctx, kind, name):
        path, key, _ = KINDS[kind]
        try:
            return ctx.call("GET " + path, name=name) if name else None
        except Problem:
            return None

    def edit_page(ctx, kind, name, text=None, error="", problems=(), status=200, form=None,
                  form_error="", form_problems=()):
        key = KINDS[kind][1]
        row = stored(ctx, kind, name)
        if text is None:
            text = json.dumps(row[key], indent=2) if row else "{}"
        if kind == "tariffs" and form is None:
            form = tariff_form.fields(row[key] if row else {})
        return ctx.render("document.html", status=status, kind=kind, name=name, row=row,
                          text=text, error=error, problems=problems, form=form,
                          form_error=form_error, form_problems=form_problems,
                          help=tariff_form.LINE_HELP)

    def put(ctx, kind, name, doc, failed):
        """PUT the document through the API; failed(message, problems, status) on refusal."""
        path, key, action = KINDS[kind]
        row = stored(ctx, kind, name)
        try:
            saved = ctx.call("PUT " + path, body=doc, name=name)
        except Problem as e:
            return failed(e.message, e.problems, e.status)
        ctx.audit(action, name, row[key] if row else None, saved[key])
        return Response.redirect("/%s/%s?saved=1" % (kind, name), status_code=303)

    def save(ctx, kind, name):
        name = name or (ctx.form.get("name") or "").strip()
        text = ctx.form.get("doc") or ""
        try:
            doc = json.loads(text)
        except ValueError as e:
            return edit_page(ctx, kind, name, text, "not JSON: %s" % e, status=400)
        return put(ctx, kind, name, doc, lambda msg, problems, status: edit_page(
            ctx, kind, name, text, msg, problems, status=status))

    @console.page("/tariffs/<name>/form", perm="write", methods=("POST",))
    def save_form(ctx, name):
        form = {k: ctx.form.get(k, "") for k in ("rates", "default", "windows", "standing_per_day")}
        failed = lambda msg, problems=(), status=400: edit_page(
            ctx, "tariffs", name, form=form, form_error=msg, form_problems=problems, status=status)
        row = stored(ctx, "tariffs", name)
        try:
            doc = tariff_form.document(form, row["spec"] if row else {})
        except tariff_form.FormError as e:
            return failed("the form could not be read", e.errors)
        return put(ctx, "tariffs", name, doc, failed)

    for kind in KINDS:
        def bind(kind):
            @console.page("/%s/new" % kind, perm="write")
            def new(ctx):
                return edit_page(ctx, kind, "")

            @console.page("/%s/new" % kind, perm="write", methods=("POST",))
            def create(ctx):
                return save(ctx, kind, "")

            @console.page("/%s/<name>" % kind)   # read only without "write": no save button
            def edit(ctx, name):
                return edit_page(ctx, kind, name)

            @console.page("/%s/<name>" % kind, perm="write", methods=("POST",))
            def update(ctx, name):
                return save(ctx, kind, name)
            for f in (new, create, edit, update):
                f.__name__ = "%s_%s" % (kind, f.__name__)
        bind(kind)
