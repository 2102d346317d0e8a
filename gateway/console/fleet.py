"""Fleet overview at /: counts, and the meter table searched, filtered, sorted and paginated
by the database (the API's GET /api/meters with q, status, sort, limit and offset). Credit
and power are fetched only for the page shown (the API's credit and realtime), so the page
costs about the same at 10,000 meters as at 10."""
from gateway.console.web import PER_PAGE, csv_response

SORT_KEYS = ("id", "name", "group", "last_seen", "status")
STATUSES = ("online", "offline")
COLUMNS = (("id", "meter"), ("name", "name"), ("group", "group"), ("customer", "customer"),
           ("credit", "credit (minor units)"), ("days_left", "days left"), ("power_w", "power W"),
           ("last_seen_local", "last seen"), ("status", "status"))


def row(ctx, m):
    """A meter's row: its credit and live power as the API reports them. days_left is shown
    when the API's credit answer carries it (the forecast, prepay/forecast.py, adds it)."""
    c = ctx.call("GET /api/meters/{meter_id}/credit", meter_id=m["id"])
    live = ctx.call("GET /api/meters/{meter_id}/realtime", meter_id=m["id"])["telemetry"] or {}
    return dict(m, credit=c.get("credit"), days_left=c.get("days_left"),
                relay_open=c.get("relay_open"), power_w=live.get("p"),
                last_seen_local=ctx.console.when(m.get("last_seen")),
                status="online" if m["online"] else "offline")


def open_alerts(store):
    """Open alerts by kind, as the alert loop left them (evaluating 10,000 meters on every
    page view would cost seconds; GET /api/alerts does, for its own answer)."""
    return {r["kind"]: r["n"] for r in store.query(
        "SELECT kind, count(*) AS n FROM alerts WHERE cleared IS NULL GROUP BY kind")}


def add(console):
    @console.page("/")
    def fleet(ctx):
        total = ctx.call("GET /api/meters", {"limit": 1})["total"]
        online = ctx.call("GET /api/meters", {"status": "online", "limit": 1})["total"]
        alerts = open_alerts(console.store)
        counts = {"meters": total, "online": online, "offline": total - online,
                  "supply cut": alerts.get("supply_cut", 0),
                  "low credit": alerts.get("low_credit", 0),
                  "open alerts": sum(alerts.values())}
        q, status, sort = ctx.arg("q").strip(), ctx.arg("status"), ctx.arg("sort", "id")
        if sort.lstrip("-") not in SORT_KEYS:
            sort = "id"
        args = {"q": q[:100], "status": status if status in STATUSES else None, "sort": sort}
        if ctx.arg("format") == "csv":
            meters = ctx.call("GET /api/meters", args)["meters"]
            return csv_response("fleet.csv", COLUMNS, [row(ctx, m) for m in meters])
        page = ctx.page_number()
        got = ctx.call("GET /api/meters", dict(args, limit=PER_PAGE, offset=(page - 1) * PER_PAGE))
        pages = max(1, -(-got["total"] // PER_PAGE))
        return ctx.render("fleet.html", counts=counts, rows=[row(ctx, m) for m in got["meters"]],
                          q=q, state=args["status"] or "", sort=sort, page=page, pages=pages,
                          total=got["total"])
