"""Bills: a meter's month with every line and the prepaid reconciliation (the API's bill and
its plain-text rendering, gateway/billing.py), its invoices, and making the draft invoice
whose PDF and CSV the API serves (gateway/invoice_api.py)."""
import time

from microdot import Response

from gateway import billing
from gateway.console.web import Problem


def add(console):
    def page(ctx, meter, period, error="", status=200):
        bill = text = None
        if meter and period and not error:
            try:
                bill = ctx.call("GET /api/meters/{meter_id}/bill", {"period": period}, meter_id=meter)
                text = billing.text(bill)
            except Problem as e:
                error, status = e.message, e.status
        invoices = []
        if meter:
            try:
                invoices = ctx.call("GET /api/invoices", {"meter": meter})["invoices"]
            except Problem as e:
                error, status = error or e.message, e.status
        return ctx.render("bills.html", status=status, meter=meter, period=period, bill=bill,
                          text=text, invoices=invoices, error=error)

    @console.page("/bills")
    def bills(ctx):
        period = ctx.arg("period") or time.strftime(
            "%Y-%m", time.gmtime(time.time() + console.offset_min * 60))
        return page(ctx, ctx.arg("meter"), period)

    @console.page("/bills/invoice", perm="write", methods=("POST",))
    def make_invoice(ctx):
        meter, period = ctx.form.get("meter", ""), ctx.form.get("period", "")
        try:
            inv = ctx.call("POST /api/invoices", body={"meter": meter, "period": period})
        except Problem as e:
            return page(ctx, meter, period, error=e.message, status=e.status)
        ctx.audit("create_draft", "%s/%s" % (meter, period), None,
                  {k: inv.get(k) for k in ("id", "number", "state", "total", "period", "meter")})
        return Response.redirect("/bills?meter=%s&period=%s&invoice=%s" % (meter, period, inv["id"]),
                                 status_code=303)
