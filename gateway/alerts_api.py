"""The alert routes of the API: persisted alerts (list, acknowledge), their thresholds,
subscriptions and the delivery log (gateway/alerting.py, gateway/notify.py)."""
import re

from gateway import api_schemas as S
from gateway.alerting import COOLDOWN_S, SETTING_MAX, SETTINGS
from gateway.http import ApiError, arg_int, body_json, field, row_id
from gateway.notify import CHANNELS
from prepay.settings import valid_id

KINDS = sorted(COOLDOWN_S)
_URL = re.compile(r"https?://[!-~]{1,500}\Z")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}\Z")
_GROUP = re.compile(r"[ -~]{1,64}\Z")
LIST_MAX = 100
ROW_ID = S.ROW_ID

ALERT = S.obj(["id", "kind", "meter", "severity", "explanation", "detail", "raised", "updated",
               "acknowledged", "acknowledged_by", "cleared", "state"],
              id=S.INT, kind=S.STR, meter=S.null(S.STR), severity=S.STR, explanation=S.STR,
              detail=S.STR, raised=S.INT, updated=S.INT, acknowledged=S.null(S.INT),
              acknowledged_by=S.null(S.STR), cleared=S.null(S.INT),
              state={"type": "string", "enum": ["open", "acknowledged", "cleared"]})
ALERTS = S.obj(["alerts"], alerts=S.arr(ALERT))
_SETTING = {"type": "integer", "minimum": 0, "maximum": SETTING_MAX}
_VALUES = {"type": "object", "properties": {k: _SETTING for k in SETTINGS},
           "additionalProperties": False}
THRESHOLDS = S.obj(["defaults", "fleet", "meters"], defaults=_VALUES, fleet=_VALUES,
                   meters={"type": "object", "additionalProperties": _VALUES})
THRESHOLDS_BODY = {"type": "object", "required": ["values"], "properties": {
    "meter": dict(S.ID, description="a meter's own values; absent: the fleet's"),
    "values": {"type": "object", "minProperties": 1, "additionalProperties": False,
               "properties": {k: {"type": ["integer", "null"], "minimum": 0,
                                  "maximum": SETTING_MAX, "description": h + " (null: remove)"}
                              for k, (_, h) in SETTINGS.items()}}},
    "additionalProperties": False}
_LIST = lambda item: {"type": "array", "items": item, "maxItems": LIST_MAX}
_SUB_LISTS = {
    "kinds": dict(_LIST({"type": "string", "enum": KINDS}), description="empty: all kinds"),
    "meters": dict(_LIST(S.ID), description="empty: all meters"),
    "groups": dict(_LIST({"type": "string", "pattern": "^[ -~]{1,64}$"}),
                   description="meter groups; empty: all")}


def _sub_body(channel, target):
    return {"type": "object", "required": ["channel", "target"], "additionalProperties": False,
            "properties": dict(_SUB_LISTS, channel={"const": channel}, target=target)}


SUB_BODY = {"oneOf": [   # the target's form depends on the channel
    _sub_body("webhook", {"type": "string", "pattern": "^" + _URL.pattern[:-2] + "$",
                          "description": "an http(s) URL"}),
    _sub_body("email", {"type": "string", "pattern": "^" + _EMAIL.pattern[:-2] + "$",
                        "description": "an email address"})]}
SUB = S.obj(["id", "channel", "target", "kinds", "meters", "groups", "created"], id=S.INT,
            channel=S.STR, target=S.STR, kinds=S.arr(S.STR), meters=S.arr(S.STR),
            groups=S.arr(S.STR), created=S.INT)
DELIVERY = S.obj(["id", "sub", "channel", "target", "status", "attempts", "created", "next_at",
                  "done", "attempt_log"], id=S.INT, sub=S.INT, channel=S.STR, target=S.STR,
                 status=S.STR, attempts=S.INT, created=S.NUM, next_at=S.NUM, done=S.null(S.NUM),
                 attempt_log=S.arr(S.obj(["t", "status_code", "latency_ms", "error"], t=S.NUM,
                                         status_code=S.null(S.INT), latency_ms=S.INT,
                                         error=S.null(S.STR))))


def _choice(req, name, choices, default):
    v = req.args.get(name, default)
    if v is not None and v not in choices:
        raise ApiError(400, "%s must be one of %s, got %r" % (name, ", ".join(choices), v))
    return v


def _strings(data, name, pattern, what):
    v = field(data, name, list, required=False, default=[])
    if len(v) > LIST_MAX:
        raise ApiError(400, "field %r: at most %d items" % (name, LIST_MAX))
    for x in v:
        if not isinstance(x, str) or not pattern(x):
            raise ApiError(400, "field %r: %r is not %s" % (name, x, what))
    return v


def add_routes(api, store, alerting, notifier):
    r = api.route
    api.path_schemas.update(alert_id=ROW_ID, sub_id=ROW_ID)

    @r("GET", "/api/alerts", "Alerts, newest first: open ones (default) or all, with raised, "
       "acknowledged and cleared times", tag="alerts", returns=ALERTS,
       params=(("state", {"type": "string", "enum": ["open", "all"]}, "open (default) | all"),
               ("kind", {"type": "string", "enum": KINDS}, "only this kind"),
               ("meter", S.ID, "only this meter"), ("limit", S.LIMIT, "1..1000 (default 1000)")))
    def get_alerts(req):
        state = _choice(req, "state", ("open", "all"), "open")
        kind = _choice(req, "kind", KINDS, None)
        meter = req.args.get("meter")
        if meter is not None and not valid_id(meter):
            raise ApiError(400, "meter must be a meter id, got %r" % meter)
        alerting.evaluate()   # cheap, and the list is then never staler than the request
        return {"alerts": alerting.list(state, kind, meter, arg_int(req, "limit", 1000, 1, 1000))}

    @r("POST", "/api/alerts/{alert_id}/acknowledge", "Acknowledge an alert (the first "
       "acknowledgement is kept)", auth=True, tag="alerts", returns=ALERT,
       params=(("by", {"type": "string", "pattern": "^[ -~]{1,64}$"}, "who acknowledges"),))
    def acknowledge(req, alert_id):
        who = req.args.get("by", "api")
        if not _GROUP.match(who):
            raise ApiError(400, "by: 1 to 64 printable ASCII characters")
        a = alerting.acknowledge(row_id(alert_id), who)
        if a is None:
            raise ApiError(404, "no alert %s" % alert_id)
        return a

    @r("GET", "/api/alert-thresholds", "Alert thresholds and cooldowns: the defaults, the "
       "fleet's settings and each meter's overrides", tag="alerts", returns=THRESHOLDS)
    def thresholds(req):
        own = alerting.overrides()
        return {"defaults": {k: v[0] for k, v in SETTINGS.items()}, "fleet": own.pop("", {}),
                "meters": own}

    @r("PUT", "/api/alert-thresholds", "Set (or remove, with null) the fleet's or one meter's "
       "alert thresholds", body=THRESHOLDS_BODY, auth=True, tag="alerts", returns=THRESHOLDS,
       errors=(404,))
    def put_thresholds(req):
        data = body_json(req)
        extra = set(data) - {"meter", "values"}
        if extra:
            raise ApiError(400, "unknown field %r" % sorted(extra)[0])
        meter = field(data, "meter", str, required=False, default="",
                      check=valid_id, why="not a meter id")
        if meter and store.meter(meter) is None:
            raise ApiError(404, "no meter %r" % meter)
        values = field(data, "values", dict, check=lambda v: len(v) > 0, why="an empty object")
        for k, v in values.items():
            if k not in SETTINGS:
                raise ApiError(400, "values: unknown setting %r (known: %s)" % (
                    k, ", ".join(sorted(SETTINGS))))
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                                  or not 0 <= v <= SETTING_MAX):
                raise ApiError(400, "values.%s: an integer 0..%d or null" % (k, SETTING_MAX))
        alerting.set_thresholds(meter, values)
        return thresholds(req)

    @r("GET", "/api/alert-subscriptions", "Who receives which alerts", auth=True,
       tag="alerts", returns=S.obj(["subscriptions"], subscriptions=S.arr(SUB)))
    def subscriptions(req):
        return {"subscriptions": notifier.subscriptions()}

    @r("POST", "/api/alert-subscriptions", "Subscribe a webhook or an email address to alerts "
       "of some kinds, meters or groups", body=SUB_BODY, auth=True, tag="alerts", returns=SUB,
       ok=(201,))
    def subscribe(req):
        data = body_json(req)
        extra = set(data) - set(_SUB_LISTS) - {"channel", "target"}
        if extra:
            raise ApiError(400, "unknown field %r" % sorted(extra)[0])
        channel = field(data, "channel", str, check=lambda v: v in CHANNELS,
                        why="webhook or email")
        ok = _URL.match if channel == "webhook" else _EMAIL.match
        target = field(data, "target", str, check=ok, why="an http(s) URL" if channel ==
                       "webhook" else "an email address")
        kinds = _strings(data, "kinds", lambda v: v in KINDS, "an alert kind (%s)" % ", ".join(KINDS))
        meters = _strings(data, "meters", valid_id, "a meter id")
        groups = _strings(data, "groups", _GROUP.match, "a group name")
        from microdot import Response
        return Response(notifier.subscribe(channel, target, kinds, meters, groups),
                        status_code=201)

    @r("DELETE", "/api/alert-subscriptions/{sub_id}", "Remove a subscription (its delivery log "
       "stays)", auth=True, tag="alerts", returns=S.obj(["removed"], removed=S.INT))
    def unsubscribe(req, sub_id):
        sid = row_id(sub_id)
        if not notifier.unsubscribe(sid):
            raise ApiError(404, "no subscription %s" % sub_id)
        return {"removed": sid}

    @r("GET", "/api/alert-deliveries", "Notification deliveries, newest first, with every "
       "attempt's status code and latency", auth=True, tag="alerts",
       params=(("status", {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "only this status"), ("limit", S.LIMIT, "1..1000")),
       returns=S.obj(["deliveries"], deliveries=S.arr(DELIVERY)))
    def deliveries(req):
        status = _choice(req, "status", ("pending", "delivered", "failed"), None)
        return {"deliveries": notifier.deliveries(status, arg_int(req, "limit", 100, 1, 1000))}
