"""The gateway's REST API, live stream, OpenAPI description and Prometheus /metrics.

`make_api(store, ...)` returns an Api whose `.app` is a microdot app. Reads are open, writes
need an API key (X-API-Key or Authorization: Bearer). Times are epoch seconds or ISO 8601.
"""
import os
import re
import time

from microdot import Response
from microdot.sse import with_sse

from gateway import alerts as alerts_mod
from gateway import billing
from gateway import metrics, queries, schema, vend
from gateway import store as store_mod
from gateway.http import Api, ApiError, arg_int, arg_time, body_json, field
from gateway.live import Client, Hub

VERSION = "1.0.0"
AGG_PARAM = ("agg", "string", "raw | 30min | hour | day | week | month (default day)")
FROM_TO = (("from", "string", "start: epoch seconds or ISO 8601 (default: a day before to)"),
           ("to", "string", "end, exclusive: epoch seconds or ISO 8601 (default: now)"))
METER_BODY = {"type": "object", "required": ["id"], "properties": {
    "id": {"type": "string", "pattern": "^[a-z0-9-]{1,32}$"}, "name": {"type": "string"},
    "group": {"type": "string"}, "tariff": {"type": "string"},
    "utc_offset_min": {"type": "integer"}, "interval_s": {"type": "integer"},
    "max_power_w": {"type": "integer"}, "first_seq": {"type": "integer"},
    "low_warn": {"type": "integer"},
    "billing_plan": {"type": "string", "description": "billing plan name (docs/billing.md)"},
    "sanctioned_load_w": {"type": "integer", "description": "for per-kW fixed charges"},
    "connected": {"type": "string", "format": "date",
                  "description": "local date service began, YYYY-MM-DD: the first month's "
                  "fixed and standing charges are prorated (docs/billing.md)"},
    "token_key": {"type": "string", "description": "OpenPAYGO key, 32 hex digits"},
    "token_starting_code": {"type": "integer"}}}
_ATTR = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_INT_ATTRS = ("utc_offset_min", "interval_s", "max_power_w", "first_seq", "low_warn",
              "token_starting_code", "sanctioned_load_w")
PLAN_BODY = {"type": "object", "description": "billing plan (docs/billing.md)", "properties": {
    "name": {"type": "string"}, "currency": {"type": "string"},
    "energy": {"type": "object", "description": '{"type": "tou"} or {"type": "slabs", '
               '"slabs": [{"upto_kwh": 100, "rate": "3.5"}, ..., {"rate": 7}]}'},
    "fixed": {"type": "array", "items": {"type": "object"},
              "description": '[{"name", "per_month" | "per_kw"}]'},
    "surcharges": {"type": "array", "items": {"type": "object"},
                   "description": '[{"name", "percent", "on": ["energy"]}]'},
    "taxes": {"type": "array", "items": {"type": "object"},
              "description": '[{"name", "percent", "on": ["energy", "standing", "fixed"]}]'}}}
PERIOD = (("period", "string", "calendar month YYYY-MM in the meter's local time", True),
          ("plan", "string", "bill with this plan instead of the meter's own"))


def make_api(store, ingest=None, api_keys=(), hub=None, deliver=None, on_meters=None,
             health_extra=None):
    """deliver(meter_id, tx_id, code) -> bool sends a vended token to the meter (cmd/token);
    on_meters() runs after a meter is registered or removed (Home Assistant discovery)."""
    api = Api("Prepaid meter gateway", VERSION, api_keys)
    hub = hub or Hub(store)
    rate = metrics.Rate()
    started = time.time()
    r = api.route

    def need_meter(meter_id):
        m = store.meter(meter_id)
        if m is None:
            raise ApiError(404, "no meter %r" % meter_id)
        return m

    def window(req, default_days=1):
        to = arg_time(req, "to", int(time.time()))
        frm = arg_time(req, "from", to - default_days * 86400)
        return frm, to

    def bad(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except queries.BadQuery as e:
            raise ApiError(400, str(e))

    # -- meters ----------------------------------------------------------------------------
    @r("GET", "/api/meters", "List registered meters with their status")
    def list_meters(req):
        return {"meters": store.meters()}

    @r("POST", "/api/meters", "Register (or update) a meter", body=METER_BODY, auth=True)
    def register(req):
        d = body_json(req)
        mid = field(d, "id", str, check=schema.valid_id, why="must match [a-z0-9-]{1,32}")
        attrs = {}
        for k, v in d.items():
            if k == "id":
                continue
            if k in _INT_ATTRS:
                field(d, k, int)
            elif k == "token_key":
                field(d, k, str, check=_hex32, why="must be 32 hex digits")
            elif k in store_mod.STATUS or not _ATTR.match(k):
                raise ApiError(400, "field %r cannot be set here" % k)
            elif isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise ApiError(400, "field %r: must be a string or a number" % k)
            attrs["grp" if k == "group" else k] = v
        if attrs.get("tariff") and not store.query("SELECT 1 FROM tariffs WHERE name=?",
                                                   (attrs["tariff"],)):
            raise ApiError(400, "unknown tariff %r (PUT /api/tariffs/{name} first)"
                           % attrs["tariff"])
        if "billing_plan" in attrs and not (isinstance(attrs["billing_plan"], str)
                                            and store.billing_plans(attrs["billing_plan"])):
            raise ApiError(400, "unknown billing plan %r (PUT /api/billing/plans/{name} first)"
                           % (attrs["billing_plan"],))
        if "connected" in attrs and billing.parse_date(attrs["connected"]) is None:
            raise ApiError(400, "connected: must be a date YYYY-MM-DD, got %r"
                           % (attrs["connected"],))
        existed = store.is_registered(mid)
        try:
            m = store.register_meter(mid, **attrs)
        except ValueError as e:   # an inline tariff document that does not validate
            raise ApiError(400, str(e))
        if on_meters:
            on_meters()
        return Response(m, status_code=200 if existed else 201)

    @r("GET", "/api/meters/{meter_id}", "One meter: attributes, status, sync position")
    def meter_detail(req, meter_id):
        m = need_meter(meter_id)
        m["missing"] = store.missing(meter_id)
        return m

    @r("DELETE", "/api/meters/{meter_id}", "Unregister a meter (its history is kept)", auth=True)
    def remove(req, meter_id):
        need_meter(meter_id)
        store.remove_meter(meter_id)
        if on_meters:
            on_meters()
        return {"removed": meter_id}

    # -- readings --------------------------------------------------------------------------
    @r("GET", "/api/meters/{meter_id}/readings",
       "Energy (Wh), cost, average and maximum demand per bucket; agg=raw gives interval records",
       params=FROM_TO + (AGG_PARAM,))
    def readings(req, meter_id):
        need_meter(meter_id)
        frm, to = window(req)
        agg = req.args.get("agg", "day")
        if agg == "raw":
            rows, truncated = bad(queries.raw_readings, store, meter_id, frm, to)
            return {"meter": meter_id, "agg": agg, "from": frm, "to": to, "rows": rows,
                    "truncated": truncated}
        rows = bad(queries.meter_energy, store, meter_id, frm, to, agg)
        return {"meter": meter_id, "agg": agg, "from": frm, "to": to, "rows": rows,
                "total_wh": sum(x["wh"] for x in rows)}

    @r("GET", "/api/meters/{meter_id}/tou", "Energy and cost per time-of-use bucket",
       params=FROM_TO)
    def tou(req, meter_id):
        need_meter(meter_id)
        frm, to = window(req, 31)
        return {"meter": meter_id, "from": frm, "to": to,
                "buckets": bad(queries.tou, store, meter_id, frm, to)}

    @r("GET", "/api/groups/{group}/readings", "Energy and cost of a group of meters",
       params=FROM_TO + (AGG_PARAM,), tag="fleet")
    def group_readings(req, group):
        frm, to = window(req)
        agg = req.args.get("agg", "hour")
        return {"group": group, "agg": agg, "from": frm, "to": to,
                "rows": bad(queries.group_energy, store, group, frm, to, agg)}

    @r("GET", "/api/fleet/readings", "Energy and cost of the whole fleet",
       params=FROM_TO + (AGG_PARAM,), tag="fleet")
    def fleet_readings(req):
        frm, to = window(req)
        agg = req.args.get("agg", "hour")
        return {"agg": agg, "from": frm, "to": to,
                "rows": bad(queries.group_energy, store, "", frm, to, agg)}

    @r("GET", "/api/fleet/top", "Top consumers over a period",
       params=FROM_TO + (("limit", "integer", "how many (1..1000)"),), tag="fleet")
    def top(req):
        frm, to = window(req, 30)
        return {"from": frm, "to": to, "meters": bad(
            queries.top_consumers, store, frm, to, arg_int(req, "limit", 10, 1, 1000))}

    @r("GET", "/api/meters/{meter_id}/realtime", "Latest live telemetry and status")
    def realtime(req, meter_id):
        m = need_meter(meter_id)
        return {"meter": meter_id, "online": m["online"], "last_seen": m["last_seen"],
                "telemetry": queries.live(store, meter_id),
                "last_record": queries.last_record(store, meter_id)}

    # -- credit and tokens -----------------------------------------------------------------
    @r("GET", "/api/meters/{meter_id}/credit", "Credit the meter last reported, and vending totals",
       tag="credit")
    def credit(req, meter_id):
        need_meter(meter_id)
        c = alerts_mod.credit_state(store, meter_id) or {}
        return dict(c, meter=meter_id, **vend.summary(store, meter_id))

    @r("GET", "/api/meters/{meter_id}/transactions",
       "Vended tokens, newest first (token codes: API key required)",
       params=(("limit", "integer", "1..1000"),), auth=True, tag="credit")
    def transactions(req, meter_id):
        need_meter(meter_id)
        return {"meter": meter_id,
                "transactions": vend.transactions(store, meter_id, arg_int(req, "limit", 100, 1, 1000))}

    @r("POST", "/api/meters/{meter_id}/topup",
       "Vend an OpenPAYGO top-up token for an amount of credit (minor units)", auth=True,
       body={"type": "object", "required": ["amount"], "properties": {
           "amount": {"type": "integer", "minimum": 1}, "ref": {"type": "string"}}},
       tag="credit")
    def topup(req, meter_id):
        need_meter(meter_id)
        d = body_json(req)
        amount = field(d, "amount", int, check=lambda v: v > 0, why="must be a positive integer")
        ref = field(d, "ref", str, required=False, check=lambda v: len(v) <= 200,
                    why="at most 200 characters")
        try:
            return Response(vend.topup(store, meter_id, amount, ref, deliver), status_code=201)
        except vend.VendError as e:
            raise ApiError(e.status, str(e))

    # -- events, alerts ---------------------------------------------------------------------
    ev_params = (("from", "string", "start"), ("to", "string", "end"),
                 ("kind", "string", "event kind"), ("limit", "integer", "1..1000"))

    @r("GET", "/api/meters/{meter_id}/events", "A meter's events, newest first", params=ev_params,
       tag="events")
    def meter_events(req, meter_id):
        need_meter(meter_id)
        return {"events": queries.events(store, meter_id, arg_time(req, "from"), arg_time(req, "to"),
                                         req.args.get("kind"), arg_int(req, "limit", 100, 1, 1000))}

    @r("GET", "/api/events", "Events of all meters, newest first", params=ev_params, tag="events")
    def all_events(req):
        return {"events": queries.events(store, None, arg_time(req, "from"), arg_time(req, "to"),
                                         req.args.get("kind"), arg_int(req, "limit", 100, 1, 1000))}

    @r("GET", "/api/alerts", "Offline meters, low credit, cut supply, dead letters, anomalies",
       tag="events")
    def get_alerts(req):
        return {"alerts": alerts_mod.alerts(store)}

    @r("GET", "/api/dead-letters", "Rejected payloads with their reasons, newest first",
       params=(("limit", "integer", "1..1000"),), tag="events")
    def dead_letters(req):
        rows = store.query("SELECT id, t, topic, reason, hex(substr(payload, 1, 256)) AS payload_hex,"
                           " length(payload) AS size FROM dead_letters ORDER BY id DESC LIMIT ?",
                           (arg_int(req, "limit", 100, 1, 1000),))
        return {"dead_letters": rows}

    # -- tariffs ---------------------------------------------------------------------------
    @r("GET", "/api/tariffs", "Tariffs (docs/tariffs.md)", tag="tariffs")
    def tariffs(req):
        return {"tariffs": store.tariffs()}

    @r("GET", "/api/tariffs/{name}", "One tariff", tag="tariffs")
    def tariff(req, name):
        t = store.tariffs(name)
        if not t:
            raise ApiError(404, "no tariff %r" % name)
        return t[0]

    @r("PUT", "/api/tariffs/{name}", "Create or replace a tariff (validated by prepay/tariff.py)",
       body={"type": "object"}, auth=True, tag="tariffs")
    def put_tariff(req, name):
        if not schema.valid_id(name):
            raise ApiError(400, "tariff name must match [a-z0-9-]{1,32}")
        try:
            return store.put_tariff(name, body_json(req))
        except ValueError as e:
            raise ApiError(400, "invalid tariff: %s" % e)

    # -- billing (gateway/billing.py, docs/billing.md) ---------------------------------------
    @r("GET", "/api/billing/plans", "Billing plans (docs/billing.md)", tag="billing")
    def plans(req):
        return {"plans": store.billing_plans()}

    @r("GET", "/api/billing/plans/{name}", "One billing plan", tag="billing")
    def plan(req, name):
        p = store.billing_plans(name)
        if not p:
            raise ApiError(404, "no billing plan %r" % name)
        return p[0]

    @r("PUT", "/api/billing/plans/{name}",
       "Create or replace a billing plan (400 lists every problem)", body=PLAN_BODY, auth=True,
       tag="billing")
    def put_plan(req, name):
        if not schema.valid_id(name):
            raise ApiError(400, "plan name must match [a-z0-9-]{1,32}")
        try:
            return store.put_billing_plan(name, body_json(req))
        except billing.PlanError as e:
            return Response({"error": "invalid billing plan: %s" % e, "status": 400,
                             "problems": e.errors}, status_code=400)

    def make_bill(req, meter_id):
        need_meter(meter_id)
        try:
            return billing.bill(store, meter_id, req.args.get("period"), req.args.get("plan"))
        except billing.BillError as e:
            raise ApiError(e.status, str(e))
        except billing.PlanError as e:   # a stored plan that no longer validates
            raise ApiError(409, "billing plan does not validate: %s" % e)

    @r("GET", "/api/meters/{meter_id}/bill",
       "Invoice for one month: lines (energy, standing, fixed, surcharges, taxes), total and "
       "prepaid reconciliation (top-ups, credit debited vs billed)", params=PERIOD, tag="billing")
    def get_bill(req, meter_id):
        return make_bill(req, meter_id)

    @r("GET", "/api/meters/{meter_id}/bill.txt", "The same invoice as plain text",
       params=PERIOD, tag="billing")
    def get_bill_text(req, meter_id):
        return Response(billing.text(make_bill(req, meter_id)),
                        headers={"Content-Type": "text/plain; charset=utf-8"})

    # -- service ---------------------------------------------------------------------------
    @r("GET", "/api/health", "Broker and database status", tag="service")
    def health(req):
        db = {"ok": True, "path": store.path}
        try:
            store.reader().execute("SELECT count(*) FROM meters").fetchone()
            db["size_bytes"] = os.path.getsize(store.path)
            wal = store.path + "-wal"
            db["wal_bytes"] = os.path.getsize(wal) if os.path.exists(wal) else 0
        except Exception as e:  # the health endpoint reports failures, it does not raise
            db.update(ok=False, error=str(e))
        broker = {"configured": ingest is not None}
        if ingest is not None:
            st = dict(getattr(ingest, "stats", {}) or {})
            broker.update(connected=bool(st.get("connected")), stats=st)
        ok = db["ok"] and (ingest is None or broker["connected"])
        out = {"status": "ok" if ok else "degraded", "uptime_s": int(time.time() - started),
               "database": db, "broker": broker, "store": dict(store.stats)}
        if health_extra:
            out.update(health_extra())
        return Response(out, status_code=200 if ok else 503)

    @r("GET", "/metrics", "Prometheus metrics", tag="service")
    def prom(req):
        return Response(metrics.render(store, ingest, hub, rate),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    @r("GET", "/openapi.json", "This description", tag="service")
    def openapi(req):
        return api.openapi()

    @r("GET", "/api/stream",
       "Server-Sent Events: records, events, live telemetry, status and dead letters as stored",
       params=(("meter", "string", "only this meter"),
               ("kinds", "string", "comma list of records,events,live,status,dead")),
       tag="service", raw=True)
    @with_sse
    async def stream(req, sse):
        kinds = req.args.get("kinds")
        kinds = set(kinds.split(",")) if kinds else None
        await hub.stream(sse, Client(req.args.get("meter"), kinds))

    api.hub = hub
    return api


def _hex32(v):
    return len(v) == 32 and all(c in "0123456789abcdefABCDEF" for c in v)
