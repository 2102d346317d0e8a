"""Alerts (filtered; acknowledge), events and dead letters, each exportable as CSV. The
lists and the acknowledgement are the API's operations."""
from microdot import Response

from gateway.alerts_api import KINDS
from gateway.console.web import Problem, csv_response

ALERT_COLUMNS = (("id", "id"), ("kind", "kind"), ("meter", "meter"), ("severity", "severity"),
                 ("explanation", "explanation"), ("raised", "raised (epoch)"),
                 ("acknowledged", "acknowledged (epoch)"), ("acknowledged_by", "by"),
                 ("cleared", "cleared (epoch)"))
EVENT_COLUMNS = (("t", "time (epoch)"), ("meter", "meter"), ("kind", "kind"), ("data", "data"))
DEAD_COLUMNS = (("id", "id"), ("t", "time (epoch)"), ("topic", "topic"), ("reason", "reason"),
                ("size", "size"))


def _filters(ctx, names):
    return {k: ctx.arg(k) for k in names if ctx.arg(k)}


def add(console):
    @console.page("/alerts")
    def alerts(ctx):
        f = _filters(ctx, ("state", "kind", "meter"))
        rows = ctx.call("GET /api/alerts", dict(f, limit=ctx.arg("limit") or 100))["alerts"]
        if ctx.arg("format") == "csv":
            return csv_response("alerts.csv", ALERT_COLUMNS, rows)
        return ctx.render("alerts.html", rows=rows, f=f, kinds=KINDS)

    @console.page("/alerts/<int:alert_id>/acknowledge", perm="write", methods=("POST",))
    def acknowledge(ctx, alert_id):
        try:
            a = ctx.call("POST /api/alerts/{alert_id}/acknowledge", {"by": ctx.operator}, alert_id=str(alert_id))
        except Problem as e:
            return console.error_page(ctx.req, ctx, e.status, e.message)
        ctx.audit("acknowledge", alert_id, None, a)
        return Response.redirect("/alerts?acknowledged=%d" % alert_id, status_code=303)

    @console.page("/events")
    def events(ctx):
        f = _filters(ctx, ("kind", "from", "to"))
        f["limit"] = 500
        meter = ctx.arg("meter")
        rows = (ctx.call("GET /api/meters/{meter_id}/events", f, meter_id=meter) if meter
                else ctx.call("GET /api/events", f))["events"]
        dead = ctx.call("GET /api/dead-letters", {"limit": 100})["dead_letters"]
        which = ctx.arg("format")
        if which == "csv":
            return csv_response("events.csv", EVENT_COLUMNS, rows)
        if which == "dead-csv":
            return csv_response("dead-letters.csv", DEAD_COLUMNS, dead)
        return ctx.render("events.html", rows=rows, dead=dead, f=dict(f, meter=meter))
