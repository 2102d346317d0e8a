"""Vending: a top-up for an amount in currency, its printable receipt, and the history of
each token (vended -> delivered -> applied, or rejected).

The form carries a request id made when it was rendered; it is the API's Idempotency-Key,
so a double submit (or a reload of the POST) gives the same token, never a second one."""
import re

from microdot import Response

from gateway import customers
from gateway.console.customers import meters_by_customer
from gateway.console.web import Problem, csv_response, new_request_id
from gateway.storage import transactions

# the transaction's status in the operator's words
STAGES = {"queued": "vended", "sent": "delivered", "accepted": "applied", "rejected": "rejected",
          "expired": "expired"}
_REQUEST = re.compile(r"[A-Za-z0-9_-]{16,64}\Z")


def add(console):
    def form(ctx, status=200, error="", **values):
        values.setdefault("meter", ctx.arg("meter"))
        values.setdefault("amount", "")
        values.setdefault("ref", "")
        return ctx.render("vend.html", status=status, error=error,
                          request_id=values.pop("request_id", None) or new_request_id(), **values)

    @console.page("/vend", perm="vend")
    def vend_form(ctx):
        return form(ctx)

    @console.page("/vend", perm="vend", methods=("POST",))
    def vend(ctx):
        f = ctx.form
        meter, ref, rid = (f.get("meter") or "").strip(), (f.get("ref") or "").strip(), f.get("request_id") or ""
        again = dict(meter=meter, amount=f.get("amount", ""), ref=ref, request_id=rid)
        if not _REQUEST.match(rid):
            return form(ctx, 400, "the form has no request id: reload it", **dict(again, request_id=None))
        try:
            meter = pick_meter(ctx, meter)
            amount = ctx.console.parse_money(f.get("amount"))
            status, tx = ctx.console.call_status(
                "POST /api/meters/{meter_id}/topup", body=dict({"amount": amount}, **({"ref": ref} if ref else {})),
                headers={"Idempotency-Key": "console-" + rid}, meter_id=meter)
        except ValueError as e:
            return form(ctx, 400, str(e), **again)
        except Problem as e:
            return form(ctx, e.status, e.message, **again)
        if status == 201:
            ctx.audit("topup", "%s/%s" % (meter, tx["id"]), None, _public(tx))
        return Response.redirect("/vend/receipt/%s/%s" % (meter, tx["id"]), status_code=303)

    @console.page("/vend/receipt/<meter_id>/<int:tx_id>", perm="vend")
    def receipt(ctx, meter_id, tx_id):
        tx = transactions.get(console.store, tx_id)
        if tx is None or tx["meter"] != meter_id:
            return console.error_page(ctx.req, ctx, 404, "no transaction %s of meter %s" % (tx_id, meter_id))
        m = ctx.call("GET /api/meters/{meter_id}", meter_id=meter_id)
        who = console.store.query("SELECT actor FROM audit_log WHERE action='topup' AND target=?"
                                  " ORDER BY id LIMIT 1", ("%s/%s" % (meter_id, tx_id),))
        return ctx.render("receipt.html", tx=tx, m=m, stage=STAGES.get(tx["status"], tx["status"]),
                          operator=who[0]["actor"] if who else "API")

    @console.page("/vend/resend/<meter_id>/<int:tx_id>", perm="vend", methods=("POST",))
    def resend(ctx, meter_id, tx_id):
        """An expired top-up queued again (confirmed, audited): the API's resend, which keeps
        its command id, so the meter credits it at most once."""
        back = "/vend/history?meter=%s" % meter_id
        if ctx.form.get("confirm") != "yes":
            return history(ctx, error="tick “confirm” to send top-up %d again" % tx_id)
        try:
            cmd = ctx.call("POST /api/meters/{meter_id}/transactions/{tx_id}/resend",
                           meter_id=meter_id, tx_id=str(tx_id))
        except Problem as e:
            return history(ctx, error=e.message)
        ctx.audit("resend", "%s/%s" % (meter_id, tx_id), {"status": "expired"},
                  {"status": cmd["status"], "command": cmd["cid"]})
        return Response.redirect(back, status_code=303)

    @console.page("/vend/history", perm="vend")
    def history(ctx, error=""):
        rows = transactions.recent(console.store, 200)
        meter = ctx.arg("meter")
        if meter:
            rows = [r for r in rows if r["meter"] == meter]
        for r in rows:
            r["stage"] = STAGES.get(r["status"], r["status"])
        if ctx.arg("format") == "csv":
            return csv_response("tokens.csv", (("id", "id"), ("meter", "meter"), ("t", "time (epoch)"),
                                               ("amount", "amount (minor units)"), ("stage", "stage"),
                                               ("reason", "reason"), ("ref", "reference")), rows)
        return ctx.render("history.html", rows=rows, meter=meter, error=error,
                          status=400 if error else 200)


def pick_meter(ctx, text):
    """A meter id, or a customer's account number when that customer has one meter."""
    if ctx.console.store.is_registered(text) or customers.get(ctx.console.store, text) is None:
        return text
    meters = meters_by_customer(ctx).get(text, [])
    if len(meters) != 1:
        raise ValueError("customer %s has %s: name the meter" % (
            text, "no meter" if not meters else "several meters (%s)" % ", ".join(meters)))
    return meters[0]


def _public(tx):
    """A transaction for the audit log: the token code stays in its own table."""
    return {k: v for k, v in tx.items() if k != "token"}
