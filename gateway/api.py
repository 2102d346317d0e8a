"""The gateway's REST API, live stream, OpenAPI description and Prometheus /metrics.

`make_api(store, ...)` returns an Api whose `.app` is a microdot app. Reads are open, writes
need an API key (X-API-Key or Authorization: Bearer). Times are epoch seconds or ISO 8601.
"""
import copy
import re
import time

from microdot import Response
from microdot.sse import with_sse

from gateway import alerts as alerts_mod
from gateway import alerts_api
from gateway.alerting import Alerting
from gateway.notify import Notifier
from gateway import api_schemas as S
from gateway import billing, invoice_api, statement_api
from gateway import forecasts, limits, metrics, queries, schema, service_dates, vend
from gateway import outbox as outbox_mod
from gateway.storage import transactions as transactions_mod
from gateway.storage.meters import SORTABLE, STATUS
from gateway.http import Api, ApiError, arg_int, arg_time, body_json, field, row_id
from gateway.live import Client, Hub
from prepay import protocol

VERSION = "1.0.0"
AGG_PARAM = ("agg", S.AGG, "raw | 30min | hour | day | week | month (default day)")
GROUP_AGG = ("agg", S.GROUP_AGG, "30min | hour | day | week | month (default hour)")
FROM_TO = (("from", S.TIME, "start: epoch seconds or ISO 8601 (default: a day before to)"),
           ("to", S.TIME, "end, exclusive: epoch seconds or ISO 8601 (default: now)"))
_TEXT = {"type": "string", "maxLength": limits.STR_MAX}
METER_BODY = {"type": "object", "required": ["id"], "properties": dict({
    "id": S.ID, "name": _TEXT,
    "group": _TEXT, "tariff": _TEXT,
    "billing_plan": dict(_TEXT, description="billing plan name (docs/billing.md)"),
    "connected": dict(S.DATE, description="local date service began, YYYY-MM-DD: the first "
                      "month's fixed and standing charges are prorated (docs/billing.md)"),
    "disconnected": {"anyOf": [S.DATE, {"type": "null"}], "description": "local date the "
                     "meter was removed (account closed), YYYY-MM-DD, not before connected "
                     "nor after today; null clears it. Its last month is prorated up to it "
                     "and is its final bill; no bill after (docs/billing.md)"},
    "token_key": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$",
                  "description": "OpenPAYGO key, 32 hex digits"}},
    **{k: limits.int_schema(k) for k in list(limits.INT_RANGES) + list(limits.CHOICES)}),
    "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,31}$"},
    "additionalProperties": {"description": "any other attribute [a-z][a-z0-9_]{0,31}: a "
                             "string or a number", "anyOf": [_TEXT, {
                                 "type": "number", "minimum": -limits.INT_MAX,
                                 "maximum": limits.INT_MAX}]}}
for _k in STATUS:   # reported by the meter, never set here
    METER_BODY["properties"][_k] = False
_ATTR = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
SORTS = [p + k for k in SORTABLE for p in ("", "-")]
_STR_ATTRS = ("name", "group", "tariff", "billing_plan", "connected", "disconnected")
PERIOD = (("period", S.BILL_PERIOD, "calendar month YYYY-MM, or read dates YYYY-MM-DD.."
           "YYYY-MM-DD, in the meter's local time", True),
          ("plan", S.ID, "bill with this plan instead of the meter's own"))


def make_api(store, ingest=None, api_keys=(), hub=None, deliver=None, on_meters=None,
             health_extra=None, outbox=None, alerting=None, notifier=None):
    """alerting and notifier (gateway/alerting.py, gateway/notify.py): the service's, or
    ones made here that queue notices for the service to send;
outbox (gateway/outbox.Outbox) delivers tokens, relay and config commands to meters;
    without one, deliver(meter_id, tx_id, code) -> bool sends a vended token once (cmd/token);
    on_meters() runs after a meter is registered or removed (Home Assistant discovery)."""
    api = Api("Prepaid meter gateway", VERSION, api_keys)
    api.path_schemas.update(meter_id=S.ID, name=S.ID, tx_id=S.ROW_ID)
    hub = hub or Hub(store)
    rate = metrics.Rate()
    notifier = notifier or Notifier(store, {})
    alerting = alerting or Alerting(store, notifier.on_change)
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
    @r("GET", "/api/meters", "List registered meters with their status: all of them, or one "
       "page, searched, filtered and sorted by the database", params=(
           ("q", {"type": "string", "maxLength": 100}, "only meters whose id, name, group or "
            "any attribute contains this (case-insensitive)"),
           ("status", {"type": "string", "enum": ["online", "offline"]}, "online | offline"),
           ("sort", {"type": "string", "enum": SORTS}, "order by this key (a leading - "
            "reverses it; then by id)"),
           ("limit", S.LIMIT, "at most this many (default: all)"),
           ("offset", {"type": "integer", "minimum": 0, "maximum": limits.INT_MAX},
            "skip this many")),
       returns=S.obj(["meters", "total"], meters=S.arr(S.METER),
                     total=dict(S.INT, description="how many match (all pages)")))
    def list_meters(req):
        q = req.args.get("q")
        if q is not None and len(q) > 100:
            raise ApiError(400, "q: at most 100 characters")
        status = req.args.get("status")
        if status not in (None, "online", "offline"):
            raise ApiError(400, "status must be online or offline, got %r" % status)
        sort = req.args.get("sort", "id")
        if sort not in SORTS:
            raise ApiError(400, "sort must be one of %s, got %r" % (", ".join(SORTS), sort))
        meters, total = store.meters_page(
            q or None, None if status is None else status == "online", sort.lstrip("-"),
            sort.startswith("-"), arg_int(req, "limit", None, 1, 1000),
            arg_int(req, "offset", 0, 0, limits.INT_MAX))
        return {"meters": meters, "total": total}

    @r("POST", "/api/meters", "Register (or update) a meter", body=METER_BODY, auth=True,
       returns=S.METER, ok=(200, 201))
    def register(req):
        d = body_json(req)
        mid = field(d, "id", str, check=schema.valid_id, why="must match [a-z0-9-]{1,32}")
        attrs = {}
        for k, v in d.items():
            if k == "id":
                continue
            if k in limits.INT_RANGES or k in limits.CHOICES:
                field(d, k, int)
                why = limits.check_int(k, v)
                if why:
                    raise ApiError(400, "field %r: %s (got %r)" % (k, why, v))
            elif k == "token_key":
                field(d, k, str, check=_hex32, why="must be 32 hex digits", echo=False)
            elif k in STATUS or not _ATTR.match(k):
                raise ApiError(400, "field %r cannot be set here" % k)
            elif k == "disconnected" and v is None:    # null: back in service
                pass
            elif isinstance(v, str) or k in _STR_ATTRS:
                field(d, k, str, check=lambda v: len(v) <= limits.STR_MAX,
                      why="must be a string of at most %d characters" % limits.STR_MAX)
            elif isinstance(v, bool) or not isinstance(v, (int, float)) \
                    or not -limits.INT_MAX <= v <= limits.INT_MAX:
                raise ApiError(400, "field %r: must be a string or a number (at most %d)"
                               % (k, limits.INT_MAX))
            attrs["grp" if k == "group" else k] = v
        if attrs.get("tariff") and not store.query("SELECT 1 FROM tariffs WHERE name=?",
                                                   (attrs["tariff"],)):
            raise ApiError(400, "unknown tariff %r (PUT /api/tariffs/{name} first)"
                           % attrs["tariff"])
        if "billing_plan" in attrs and not (isinstance(attrs["billing_plan"], str)
                                            and store.billing_plans(attrs["billing_plan"])):
            raise ApiError(400, "unknown billing plan %r (PUT /api/billing/plans/{name} first)"
                           % (attrs["billing_plan"],))
        if "connected" in attrs or "disconnected" in attrs:   # with what the meter has
            old = store.meter(mid) or {}
            dates = {k: attrs[k] if k in attrs else old.get(k) for k in (
                "connected", "disconnected", "utc_offset_min")}
            why = service_dates.check(dates["connected"], dates["disconnected"],
                                      int(dates["utc_offset_min"] or 0))
            if why:
                raise ApiError(400, why)
        existed = store.is_registered(mid)
        try:
            m = store.register_meter(mid, **attrs)
        except ValueError as e:   # an inline tariff document that does not validate
            raise ApiError(400, str(e))
        if on_meters:
            on_meters()
        return Response(m, status_code=200 if existed else 201)

    @r("GET", "/api/meters/{meter_id}", "One meter: attributes, status, sync position",
       returns=S.METER_DETAIL)
    def meter_detail(req, meter_id):
        m = need_meter(meter_id)
        m["missing"] = store.missing(meter_id)
        return m

    @r("DELETE", "/api/meters/{meter_id}", "Unregister a meter (its history is kept)", auth=True,
       returns=S.obj(["removed"], removed=S.STR))
    def remove(req, meter_id):
        need_meter(meter_id)
        store.remove_meter(meter_id)
        if on_meters:
            on_meters()
        return {"removed": meter_id}

    # -- readings --------------------------------------------------------------------------
    @r("GET", "/api/meters/{meter_id}/readings",
       "Energy (Wh), cost, average and maximum demand per bucket; agg=raw gives interval records",
       params=FROM_TO + (AGG_PARAM,), returns=S.READINGS)
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
       params=FROM_TO, returns=S.TOU)
    def tou(req, meter_id):
        need_meter(meter_id)
        frm, to = window(req, 31)
        return {"meter": meter_id, "from": frm, "to": to,
                "buckets": bad(queries.tou, store, meter_id, frm, to)}

    @r("GET", "/api/groups/{group}/readings", "Energy and cost of a group of meters",
       params=FROM_TO + (GROUP_AGG,), tag="fleet", returns=S.GROUP_READINGS)
    def group_readings(req, group):
        frm, to = window(req)
        agg = req.args.get("agg", "hour")
        return {"group": group, "agg": agg, "from": frm, "to": to,
                "rows": bad(queries.group_energy, store, group, frm, to, agg)}

    @r("GET", "/api/fleet/readings", "Energy and cost of the whole fleet",
       params=FROM_TO + (GROUP_AGG,), tag="fleet", returns=S.GROUP_READINGS)
    def fleet_readings(req):
        frm, to = window(req)
        agg = req.args.get("agg", "hour")
        return {"agg": agg, "from": frm, "to": to,
                "rows": bad(queries.group_energy, store, "", frm, to, agg)}

    @r("GET", "/api/fleet/top", "Top consumers over a period",
       params=FROM_TO + (("limit", S.LIMIT, "how many (1..1000)"),), tag="fleet", returns=S.TOP)
    def top(req):
        frm, to = window(req, 30)
        return {"from": frm, "to": to, "meters": bad(
            queries.top_consumers, store, frm, to, arg_int(req, "limit", 10, 1, 1000))}

    @r("GET", "/api/meters/{meter_id}/realtime", "Latest live telemetry and status",
       returns=S.REALTIME)
    def realtime(req, meter_id):
        m = need_meter(meter_id)
        return {"meter": meter_id, "online": m["online"], "last_seen": m["last_seen"],
                "telemetry": queries.live(store, meter_id),
                "last_record": queries.last_record(store, meter_id)}

    # -- credit and tokens -----------------------------------------------------------------
    @r("GET", "/api/meters/{meter_id}/credit", "Credit the meter last reported, vending totals, "
       "and days of credit left at recent use (null: no complete hour of use yet; the "
       "forecast endpoint explains it)",
       tag="credit", returns=S.CREDIT)
    def credit(req, meter_id):
        m = need_meter(meter_id)
        c = alerts_mod.credit_state(store, meter_id) or {}
        out = dict(c, meter=meter_id, **transactions_mod.summary(store, meter_id))
        if "credit" in c:   # the forecast's days, from the plans the alert loop keeps per hour
            out["days_left"] = forecasts.days_left_of(store, m, c["credit"], int(time.time()),
                                                      alerting.plans)["days"]
        return out

    @r("GET", "/api/meters/{meter_id}/forecast",
       "Days of credit left and the month-end projection, from the meter's recent use",
       params=(("at", S.TIME, "forecast as of this time: epoch seconds or ISO 8601 (default: now)"),),
       tag="credit", returns=S.FORECAST)
    def forecast(req, meter_id):
        m = need_meter(meter_id)
        now = arg_time(req, "at", int(time.time()))
        return forecasts.forecast(store, m, alerts_mod.credit_state(store, meter_id), now)

    @r("GET", "/api/meters/{meter_id}/transactions",
       "Vended tokens, newest first (token codes: API key required)",
       params=(("limit", S.LIMIT, "1..1000"),), auth=True, tag="credit", returns=S.TXS)
    def transactions(req, meter_id):
        need_meter(meter_id)
        return {"meter": meter_id,
                "transactions": transactions_mod.for_meter(store, meter_id,
                                                           arg_int(req, "limit", 100, 1, 1000))}

    @r("POST", "/api/meters/{meter_id}/topup",
       "Vend an OpenPAYGO top-up token for an amount of credit (minor units); 201 for a new "
       "top-up, 200 with the original for a repeated Idempotency-Key (or ref), 409 if that "
       "key vended another amount", auth=True,
       params=(("Idempotency-Key", S.IDEMPOTENCY_KEY, "at most one top-up per key and "
               "meter (default: the body's ref); 1-200 visible ASCII characters", False,
               "header"),),
       body={"type": "object", "required": ["amount"], "properties": {
           "amount": {"type": "integer", "minimum": 1},
           "ref": {"type": "string", "maxLength": 200,
                   "description": "payment reference; the idempotency key when no "
                   "Idempotency-Key header is given"}}},
       tag="credit", returns=S.TX, ok=(200, 201), errors=(409,))
    def topup(req, meter_id):
        need_meter(meter_id)
        d = body_json(req)
        amount = field(d, "amount", int, check=lambda v: v > 0, why="must be a positive integer")
        ref = field(d, "ref", str, required=False, check=lambda v: len(v) <= 200,
                    why="at most 200 characters")
        key = req.headers.get("Idempotency-Key")
        if key is not None and not re.fullmatch(S.IDEMPOTENCY_KEY["pattern"], key):
            raise ApiError(400, "Idempotency-Key header: 1 to 200 printable ASCII characters")
        try:
            tx, created = vend.topup(store, meter_id, amount, ref, deliver, key, outbox)
        except vend.VendError as e:
            raise ApiError(e.status, str(e))
        return Response(tx, status_code=201 if created else 200)

    @r("POST", "/api/meters/{meter_id}/transactions/{tx_id}/resend",
       "Queue an expired top-up again, with its command id (never credited twice: the meter "
       "answers a token it applied as used); 409 unless the top-up is expired", auth=True,
       tag="credit", returns=S.COMMAND, ok=(202,), errors=(409,))
    def resend(req, meter_id, tx_id):
        need_meter(meter_id)
        if outbox is None:
            raise ApiError(503, "commands need the MQTT side of the gateway (no outbox here)")
        try:
            return Response(outbox.resend(meter_id, row_id(tx_id)), status_code=202)
        except KeyError:
            raise ApiError(404, "no top-up %s of meter %s" % (tx_id, meter_id))
        except ValueError as e:
            raise ApiError(409, str(e))

    def queue(meter_id, kind, fields):
        if outbox is None:
            raise ApiError(503, "commands need the MQTT side of the gateway (no outbox here)")
        try:
            return Response(outbox.enqueue(meter_id, kind, fields), status_code=202)
        except protocol.ProtocolError as e:
            raise ApiError(400, str(e))

    @r("POST", "/api/meters/{meter_id}/relay",
       "Queue a relay request for the meter (cmd/relay); the meter's credit policy decides",
       auth=True, tag="commands", returns=S.COMMAND, ok=(202,), errors=(503,),
       body={"type": "object", "required": ["action"], "properties": {
           "action": {"type": "string", "enum": list(protocol.RELAY_ACTIONS)}}})
    def relay(req, meter_id):
        need_meter(meter_id)
        d = body_json(req)
        action = field(d, "action", str, check=lambda v: v in protocol.RELAY_ACTIONS,
                       why="one of %s" % ", ".join(protocol.RELAY_ACTIONS))
        return queue(meter_id, protocol.RELAY, {"action": action})

    @r("POST", "/api/meters/{meter_id}/config",
       "Queue a settings update for the meter (cmd/config); the meter validates it whole and "
       "refuses keys locked over MQTT (the command ends rejected with its reason)",
       auth=True, tag="commands", returns=S.COMMAND, ok=(202,), errors=(503,),
       body={"type": "object", "required": ["set"], "properties": {
           "set": {"type": "object", "minProperties": 1, "description": 'nested partial config, e.g. '
                   '{"mqtt": {"tele_s": 5}}'},
           "restart": {"type": "boolean"}}})
    def config(req, meter_id):
        need_meter(meter_id)
        d = body_json(req)
        upd = field(d, "set", dict, check=lambda v: bool(v), why="a non-empty object")
        restart = field(d, "restart", bool, required=False, default=False)
        # the meter validates the whole config and refuses locked keys: its answer (and
        # reason) is the command's result
        return queue(meter_id, protocol.CONFIG, dict({"set": upd}, **(
            {"restart": True} if restart else {})))

    @r("GET", "/api/meters/{meter_id}/commands",
       "Commands to the meter, newest first: status (queued, sent, accepted, rejected, "
       "expired), publishes, the meter's answer and the reason (token codes: API key required)",
       params=(("limit", S.LIMIT, "1..1000"),), auth=True, tag="commands",
       returns=S.COMMANDS)
    def commands(req, meter_id):
        need_meter(meter_id)
        return {"meter": meter_id, "commands": outbox_mod.commands(
            store, meter_id, arg_int(req, "limit", 100, 1, 1000))}

    # -- events, alerts ---------------------------------------------------------------------
    ev_params = (("from", S.TIME, "start"), ("to", S.TIME, "end"),
                 ("kind", "string", "event kind"), ("limit", S.LIMIT, "1..1000"))

    @r("GET", "/api/meters/{meter_id}/events", "A meter's events, newest first", params=ev_params,
       tag="events", returns=S.EVENTS)
    def meter_events(req, meter_id):
        need_meter(meter_id)
        return {"events": queries.events(store, meter_id, arg_time(req, "from"), arg_time(req, "to"),
                                         req.args.get("kind"), arg_int(req, "limit", 100, 1, 1000))}

    @r("GET", "/api/events", "Events of all meters, newest first", params=ev_params, tag="events",
       returns=S.EVENTS)
    def all_events(req):
        return {"events": queries.events(store, None, arg_time(req, "from"), arg_time(req, "to"),
                                         req.args.get("kind"), arg_int(req, "limit", 100, 1, 1000))}

    @r("GET", "/api/dead-letters", "Rejected payloads with their reasons, newest first",
       params=(("limit", S.LIMIT, "1..1000"),), tag="events", returns=S.DEAD)
    def dead_letters(req):
        rows = store.query("SELECT id, t, topic, reason, hex(substr(payload, 1, 256)) AS payload_hex,"
                           " coalesce(size, length(payload)) AS size FROM dead_letters ORDER BY id DESC LIMIT ?",
                           (arg_int(req, "limit", 100, 1, 1000),))
        return {"dead_letters": rows}

    # -- tariffs ---------------------------------------------------------------------------
    @r("GET", "/api/tariffs", "Tariffs (docs/tariffs.md)", tag="tariffs",
       returns=S.obj(["tariffs"], tariffs=S.arr(S.TARIFF)))
    def tariffs(req):
        return {"tariffs": store.tariffs()}

    @r("GET", "/api/tariffs/{name}", "One tariff", tag="tariffs", returns=S.TARIFF)
    def tariff(req, name):
        t = store.tariffs(name)
        if not t:
            raise ApiError(404, "no tariff %r" % name)
        return t[0]

    @r("PUT", "/api/tariffs/{name}", "Create or replace a tariff (validated by prepay/tariff.py)",
       body=S.TARIFF_DOC, auth=True, tag="tariffs", returns=S.TARIFF)
    def put_tariff(req, name):
        if not schema.valid_id(name):
            raise ApiError(400, "tariff name must match [a-z0-9-]{1,32}")
        try:
            return store.put_tariff(name, body_json(req))
        except ValueError as e:
            raise ApiError(400, "invalid tariff: %s" % e)

    # -- billing (gateway/billing.py, docs/billing.md) ---------------------------------------
    @r("GET", "/api/billing/plans", "Billing plans (docs/billing.md)", tag="billing",
       returns=S.obj(["plans"], plans=S.arr(S.PLAN)))
    def plans(req):
        return {"plans": store.billing_plans()}

    @r("GET", "/api/billing/plans/{name}", "One billing plan", tag="billing", returns=S.PLAN)
    def plan(req, name):
        p = store.billing_plans(name)
        if not p:
            raise ApiError(404, "no billing plan %r" % name)
        return p[0]

    @r("PUT", "/api/billing/plans/{name}",
       "Create or replace a billing plan (400 lists every problem)", body=S.PLAN_DOC, auth=True,
       tag="billing", returns=S.PLAN)
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
       "prepaid reconciliation (top-ups, credit debited vs billed)", params=PERIOD, tag="billing",
       returns=S.BILL, errors=(409,))
    def get_bill(req, meter_id):
        return make_bill(req, meter_id)

    @r("GET", "/api/meters/{meter_id}/bill.txt", "The same invoice as plain text",
       params=PERIOD, tag="billing", returns=S.STR, media="text/plain", errors=(409,))
    def get_bill_text(req, meter_id):
        return Response(billing.text(make_bill(req, meter_id)),
                        headers={"Content-Type": "text/plain; charset=utf-8"})

    invoice_api.add_routes(api, store)

    # -- service ---------------------------------------------------------------------------
    @r("GET", "/api/health", "Broker and database status (503 when degraded)", tag="service",
       returns=S.HEALTH, ok=(200, 503))
    def health(req):
        db = {"ok": True, "path": store.database.name, "schema_version": dict(store.versions)}
        try:
            store.reader().execute("SELECT count(*) FROM meters").fetchone()
            db["size_bytes"], db["wal_bytes"] = store.database.size()
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

    @r("GET", "/metrics", "Prometheus metrics", tag="service", returns=S.STR,
       media="text/plain")
    def prom(req):
        return Response(metrics.render(store, ingest, hub, rate, alerting=alerting,
                                       notifier=notifier),
                        headers={"Content-Type": metrics.CONTENT_TYPE})

    @r("GET", "/openapi.json", "This description", tag="service", returns=S.OBJ)
    def openapi(req):
        doc = copy.deepcopy(api.openapi())   # the route table's schemas stay as they are
        props = doc["paths"]["/api/meters"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]["properties"]
        for k, names in (("tariff", [t["name"] for t in store.tariffs()]),
                         ("billing_plan", [p["name"] for p in store.billing_plans()])):
            props[k] = dict(props[k], enum=names, description="one of those stored now "
                            "(PUT /api/tariffs/{name}, /api/billing/plans/{name})") if names \
                else False   # none stored: nothing to name yet
        return doc

    @r("GET", "/api/stream",
       "Server-Sent Events: records, events, live telemetry, status and dead letters as stored",
       params=(("meter", "string", "only this meter"),
               ("kinds", "string", "comma list of records,events,live,status,dead")),
       tag="service", raw=True, returns=S.STR, media="text/event-stream")
    @with_sse
    async def stream(req, sse):
        kinds = req.args.get("kinds")
        kinds = set(kinds.split(",")) if kinds else None
        await hub.stream(sse, Client(req.args.get("meter"), kinds))

    alerts_api.add_routes(api, store, alerting, notifier)
    statement_api.add_routes(api, store, alerting)
    api.hub = hub
    return api


def _hex32(v):
    return len(v) == 32 and all(c in "0123456789abcdefABCDEF" for c in v)
