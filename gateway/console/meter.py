"""Meter detail: status, credit, sync position, live values (the API's SSE stream), charts
of the API's readings, time-of-use breakdown, transactions, commands, events, and the
confirmed and audited actions (relay, settings, the removal date that closes the account)."""
import json
import time

from microdot import Response

from prepay import protocol
from gateway.console.web import Problem, csv_response


def detail(ctx, meter_id, message="", error="", config_text=""):
    m = ctx.call("GET /api/meters/{meter_id}", meter_id=meter_id)
    credit = ctx.call("GET /api/meters/{meter_id}/credit", meter_id=meter_id)
    live = ctx.call("GET /api/meters/{meter_id}/realtime", meter_id=meter_id)
    tou = ctx.call("GET /api/meters/{meter_id}/tou", meter_id=meter_id)["buckets"]
    txs = ctx.call("GET /api/meters/{meter_id}/transactions", {"limit": 20}, meter_id=meter_id)["transactions"]
    cmds = ctx.call("GET /api/meters/{meter_id}/commands", {"limit": 20}, meter_id=meter_id)["commands"]
    events = ctx.call("GET /api/meters/{meter_id}/events", {"limit": 20}, meter_id=meter_id)["events"]
    return ctx.render("meter.html", m=m, credit=credit, live=live, tou=tou, txs=txs,
                      cmds=cmds, events=events, message=message, error=error,
                      relay_actions=protocol.RELAY_ACTIONS,
                      config_text=config_text or '{"mqtt": {"tele_s": 10}}',
                      status=400 if error else 200)


def add(console):
    @console.page("/meters/<meter_id>")
    def meter(ctx, meter_id):
        return detail(ctx, meter_id)

    def act(ctx, meter_id, action, body, what):
        """An action the operator confirmed in the form: queued through the API, audited."""
        if ctx.form.get("confirm") != "yes":
            return detail(ctx, meter_id, error="tick “confirm” to %s" % what,
                          config_text=ctx.form.get("set", ""))
        try:
            cmd = ctx.call("POST /api/meters/{meter_id}/" + action, body=body, meter_id=meter_id)
        except Problem as e:
            return detail(ctx, meter_id, error=e.message, config_text=ctx.form.get("set", ""))
        ctx.audit(action, meter_id, None, cmd)
        return Response.redirect("/meters/%s?queued=%s" % (meter_id, cmd.get("id", "")),
                                 status_code=303)

    @console.page("/meters/<meter_id>/relay", perm="write", methods=("POST",))
    def relay(ctx, meter_id):
        return act(ctx, meter_id, "relay", {"action": ctx.form.get("action", "")},
                   "send the relay request")

    @console.page("/meters/<meter_id>/disconnected", perm="write", methods=("POST",))
    def disconnected(ctx, meter_id):
        """Set the meter's removal date (its final bill, docs/billing.md), or clear it with
        an empty date: through the API's meter registration, which checks the date."""
        date = (ctx.form.get("date") or "").strip() or None
        if ctx.form.get("confirm") != "yes":
            return detail(ctx, meter_id, error="tick “confirm” to %s the removal date"
                          % ("set" if date else "clear"))
        before = ctx.call("GET /api/meters/{meter_id}", meter_id=meter_id).get("disconnected")
        try:
            ctx.call("POST /api/meters", body={"id": meter_id, "disconnected": date})
        except Problem as e:
            return detail(ctx, meter_id, error=e.message)
        ctx.audit("set_disconnected", meter_id, {"disconnected": before},
                  {"disconnected": date})
        return Response.redirect("/meters/%s?removal=saved" % meter_id, status_code=303)

    @console.page("/meters/<meter_id>/config", perm="write", methods=("POST",))
    def config(ctx, meter_id):
        try:
            upd = json.loads(ctx.form.get("set") or "")
        except ValueError as e:
            return detail(ctx, meter_id, error="settings: not JSON (%s)" % e,
                          config_text=ctx.form.get("set", ""))
        return act(ctx, meter_id, "config", {"set": upd, "restart": ctx.form.get("restart") == "yes"},
                   "send the settings")

    READING_COLUMNS = (("t", "start (epoch)"), ("local", "start (local)"), ("wh", "Wh"),
                       ("cost", "cost (minor units)"), ("avg_w", "average W"),
                       ("max_30min_w", "max 30-min W"), ("records", "records"))

    def readings_csv(ctx, op, name, **path):
        """Readings over ?from=&to= (default: the last 30 days) by ?agg= (default 30min)."""
        args = {"agg": ctx.arg("agg") or "30min", "from": ctx.arg("from") or None,
                "to": ctx.arg("to") or None}
        if not args["from"] and not args["to"]:
            args["from"] = int(time.time()) - 30 * 86400
        rows = ctx.call(op, args, **path)["rows"]
        for r in rows:
            r["local"] = ctx.console.when(r["t"])
        return csv_response(name, READING_COLUMNS, rows)

    @console.page("/meters/<meter_id>/readings.csv")
    def meter_readings_csv(ctx, meter_id):
        return readings_csv(ctx, "GET /api/meters/{meter_id}/readings", "%s-readings.csv" % meter_id, meter_id=meter_id)

    @console.page("/groups/<group>/readings.csv")
    def group_readings_csv(ctx, group):
        return readings_csv(ctx, "GET /api/groups/{group}/readings", "%s-readings.csv" % group, group=group)
