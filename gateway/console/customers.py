"""Customers: search, edit, link to meters (the meter's `customer` attribute, set through the
API's meter registration), CSV import and export (gateway/customers.py)."""
from microdot import Response

from gateway import customers as customers_mod
from gateway.console.web import PER_PAGE, Problem, csv_response

COLUMNS = tuple((k, k) for k in customers_mod.FIELDS) + (("meters", "meters"),)


def meters_by_customer(ctx):
    out = {}
    for m in ctx.call("GET /api/meters")["meters"]:
        if m.get("customer"):
            out.setdefault(str(m["customer"]), []).append(m["id"])
    return out


def add(console):
    store = console.store

    @console.page("/customers")
    def listing(ctx, error="", problems=(), status=200, csv_text=""):
        q = ctx.arg("q").strip()
        page = ctx.page_number()
        links = meters_by_customer(ctx)
        if ctx.arg("format") == "csv":
            rows = customers_mod.search(store, q, limit=10 ** 9)
            for r in rows:
                r["meters"] = " ".join(links.get(r["account"], ()))
            return csv_response("customers.csv", COLUMNS, rows)
        rows = customers_mod.search(store, q, PER_PAGE + 1, (page - 1) * PER_PAGE)
        if q:   # a meter id finds its customer too
            wanted = {a for a, ms in links.items() if any(q.lower() in m for m in ms)}
            known = {r["account"] for r in rows}
            rows += [c for c in (customers_mod.get(store, a) for a in sorted(wanted - known)) if c]
        for r in rows:
            r["meters"] = links.get(r["account"], [])
        return ctx.render("customers.html", status=status, rows=rows[:PER_PAGE],
                          more=len(rows) > PER_PAGE, page=page, q=q, error=error,
                          problems=problems, csv_text=csv_text)

    @console.page("/customers/import", perm="write", methods=("POST",))
    def import_csv(ctx):
        text = ctx.form.get("csv") or ""
        try:
            rows = customers_mod.put(store, customers_mod.parse_csv(text))
        except customers_mod.CustomerError as e:
            return listing(ctx, error="nothing imported", problems=e.errors[:50], status=400,
                           csv_text=text)
        ctx.audit("import_customers", "%d rows" % len(rows), None,
                  [r["account"] for r in rows][:1000])
        return Response.redirect("/customers?imported=%d" % len(rows), status_code=303)

    def edit_page(ctx, account, values=None, error="", problems=(), status=200):
        c = customers_mod.get(store, account) if account else None
        meters = meters_by_customer(ctx).get(account, []) if account else []
        return ctx.render("customer.html", status=status, account=account, c=values or c or {},
                          exists=c is not None, meters=meters, error=error, problems=problems)

    @console.page("/customers/new", perm="write")
    def new(ctx):
        return edit_page(ctx, "")

    @console.page("/customers/<account>")
    def customer(ctx, account):
        if customers_mod.get(store, account) is None:
            return console.error_page(ctx.req, ctx, 404, "no customer %r" % account)
        return edit_page(ctx, account)

    @console.page("/customers/save", perm="write", methods=("POST",))
    def save(ctx):
        values = {k: ctx.form.get(k, "") for k in customers_mod.FIELDS}
        before = customers_mod.get(store, values["account"].strip())
        try:
            c = customers_mod.put(store, [values])[0]
        except customers_mod.CustomerError as e:
            return edit_page(ctx, "", values, "not saved", e.errors, 400)
        ctx.audit("put_customer", c["account"], before, c)
        return Response.redirect("/customers/%s?saved=1" % c["account"], status_code=303)

    @console.page("/customers/<account>/link", perm="write", methods=("POST",))
    def link(ctx, account):
        if customers_mod.get(store, account) is None:
            return console.error_page(ctx.req, ctx, 404, "no customer %r" % account)
        meter = (ctx.form.get("meter") or "").strip()
        try:
            before = ctx.call("GET /api/meters/{meter_id}", meter_id=meter).get("customer")
            ctx.call("POST /api/meters", body={"id": meter, "customer": account})
        except Problem as e:
            return edit_page(ctx, account, error=e.message, status=e.status)
        ctx.audit("link_customer", meter, {"customer": before}, {"customer": account})
        return Response.redirect("/customers/%s?linked=%s" % (account, meter), status_code=303)
