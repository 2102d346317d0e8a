"""JSON schemas of the API's responses and parameters for its OpenAPI 3.1 description
(gateway/http.py builds it from the route table). tests/gateway/test_api_fuzz.py checks every
response against them with schemathesis, so they say what the handlers really return."""
from gateway.limits import EPOCH_MAX
from prepay.settings import ID_PATTERN

INT, NUM, STR, BOOL, OBJ = ({"type": t} for t in ("integer", "number", "string", "boolean",
                                                   "object"))
ID = {"type": "string", "pattern": ID_PATTERN}


def null(s):
    return dict(s, type=[s["type"], "null"])


def obj(required=(), **props):
    return {"type": "object", "required": list(required), "properties": props}


def arr(items):
    return {"type": "array", "items": items}


TIME = {"type": "integer", "minimum": 0, "maximum": EPOCH_MAX,
        "description": "epoch seconds (ISO 8601, a date or a date-time, is accepted too)"}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
GROUP_AGG = {"type": "string", "enum": ["30min", "hour", "day", "week", "month"]}
AGG = dict(GROUP_AGG, enum=["raw"] + GROUP_AGG["enum"])
PERIOD = {"type": "string", "pattern": "^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"}
_DAY = "(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
BILL_PERIOD = {"type": "string", "pattern": "^((19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])|%s\\.\\.%s)$"
               % (_DAY, _DAY), "description": "a calendar month YYYY-MM, or read dates "
               "YYYY-MM-DD..YYYY-MM-DD (both billed; format-2 plans)"}

METER = obj(["id", "online", "last_seen", "high_contiguous", "group", "utc_offset_min",
             "interval_s", "max_power_w"],
            id=STR, name=null(STR), group=null(STR), tariff=null(STR), online=BOOL,
            last_seen=null(INT), fw=null(STR), rssi=null(INT), utc_offset_min=INT,
            interval_s=INT, max_power_w=INT, first_seq=INT, high_contiguous=INT,
            created=null(INT), disconnected=dict(STR, description="local date it was removed"))
METER_DETAIL = dict(METER, required=METER["required"] + ["missing"], properties=dict(
    METER["properties"], missing=arr(arr(INT))))
BUCKET = obj(["t", "wh", "cost", "avg_w", "max_30min_w", "records"], t=INT, wh=INT, cost=INT,
             avg_w=NUM, max_30min_w=INT, records=INT, max_w=NUM)
RAW = obj(["seq", "t", "wh", "credit", "flags"], seq=INT, t=INT, wh=INT, avg_w=NUM, v=NUM,
          a=NUM, pf=NUM, hz=NUM, credit=INT, flags=INT)
READINGS = obj(["meter", "agg", "from", "to", "rows"], meter=STR, agg=STR, **{"from": INT},
               to=INT, rows={"type": "array", "items": {"anyOf": [BUCKET, RAW]}},
               total_wh=INT, truncated=BOOL)
GROUP_READINGS = obj(["agg", "from", "to", "rows"], group=STR, agg=STR, **{"from": INT},
                     to=INT, rows=arr(obj(["t", "wh", "cost", "records"], t=INT, wh=INT,
                                          cost=INT, records=INT)))
TOU = obj(["meter", "from", "to", "buckets"], meter=STR, **{"from": INT}, to=INT,
          buckets=arr(obj(["bucket", "wh", "cost"], bucket=STR, wh=INT, cost=INT)))
TOP = obj(["from", "to", "meters"], **{"from": INT}, to=INT,
          meters=arr(obj(["meter", "wh", "cost"], meter=STR, wh=INT, cost=INT)))
REALTIME = obj(["meter", "online", "last_seen", "telemetry", "last_record"], meter=STR,
               online=BOOL, last_seen=null(INT), telemetry=null(OBJ), last_record=null(OBJ))
_DAYS = null({"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"})
FORECAST = obj(["meter", "at", "credit", "days_left", "month_end"], meter=STR, at=INT,
               credit=null(OBJ), days_left=null(obj(
                   ["days", "soonest_days", "latest_days", "runs_out_at", "basis",
                    "history_hours", "needs_hours", "text"], days=_DAYS, soonest_days=_DAYS,
                   latest_days=_DAYS, runs_out_at=null(INT), seconds=null(INT),
                   basis={"type": "string", "enum": ["week", "day", "hours", "none"]},
                   history_hours=INT, needs_hours=INT, text=STR)),
               month_end=obj(["period", "so_far", "expected", "low", "high", "basis",
                              "history_hours", "text"], period=STR, so_far=INT, so_far_wh=INT,
                             expected=null(INT), low=null(INT), high=null(INT), basis=STR,
                             history_hours=INT, text=STR))
CREDIT = obj(["meter", "tokens_vended", "vended_total", "accepted_total"], meter=STR,
             credit=INT, t=INT, source={"type": "string", "enum": ["live", "record"]},
             relay_open=BOOL, tokens_vended=INT, vended_total=INT, accepted_total=INT,
             days_left=null(STR))
TX = obj(["id", "t", "kind", "amount", "token_value", "token_count", "token", "ref", "status"],
         id=INT, meter=STR, t=INT, kind=STR, amount=INT, token_value=INT, token_count=INT,
         token=STR, ref=null(STR), status=STR, command_id=null(STR))
ROW_ID = {"type": "string", "pattern": "^[1-9][0-9]{0,11}$"}   # a table row in a path
COMMAND = obj(["id", "meter", "kind", "cid", "payload", "status", "attempts"], id=INT,
              meter=STR, kind={"type": "string", "enum": ["token", "relay", "config"]},
              cid=STR, payload=OBJ, transaction_id=null(INT), status=STR, attempts=INT,
              created=NUM, sent=null(NUM), done=null(NUM), result=null(OBJ), reason=null(STR))
COMMANDS = obj(["meter", "commands"], meter=STR, commands=arr(COMMAND))
# an Idempotency-Key: visible ASCII, inner spaces allowed (HTTP trims the ends)
IDEMPOTENCY_KEY = {"type": "string", "pattern": "^[!-~]([ -~]{0,198}[!-~])?$"}
TXS = obj(["meter", "transactions"], meter=STR, transactions=arr(TX))
EVENTS = obj(["events"], events=arr(obj(["id", "meter", "t", "kind", "data"], id=INT,
                                        meter=STR, t=INT, kind=STR, data=OBJ)))
DEAD = obj(["dead_letters"], dead_letters=arr(obj(
    ["id", "t", "topic", "reason", "payload_hex", "size"], id=INT, t=NUM, topic=STR,
    reason=STR, payload_hex=STR, size=INT)))
TARIFF = obj(["name", "spec", "updated", "meters"], name=STR, spec=OBJ, updated=null(INT),
             meters=arr(STR))
PLAN = obj(["name", "plan", "updated"], name=STR, plan=OBJ, updated=null(INT))
# a final bill's account at the meter's removal (gateway/billing.py at_removal): minor units
REMOVAL = obj(["date", "reading", "credit", "refund_due", "debt_owed"], date=STR,
              reading=null(obj(["seq", "t", "wh", "credit"], seq=INT, t=INT, wh=INT,
                               credit=INT)),
              credit=null(INT), refund_due=null(INT), debt_owed=null(INT))
BILL = obj(["meter", "period", "from", "to", "lines", "total", "currency", "prepaid"],
           meter=STR, period=STR, **{"from": INT}, to=INT, lines=arr(OBJ), total=INT,
           currency=STR, prepaid=OBJ, removal=REMOVAL)
HEALTH = obj(["status", "uptime_s", "database", "broker", "store"],
             status={"type": "string", "enum": ["ok", "degraded"]}, uptime_s=INT,
             database=obj(["ok", "schema_version"], ok=BOOL,
                          schema_version=obj(["main", "secrets"], main=INT, secrets=INT)),
             broker=obj(["configured"], configured=BOOL),
             store=OBJ)

# -- request bodies that prepay/tariff.py and gateway/billing.py validate -----------------
# What JSON Schema cannot say (a tariff's default and window rates name one of its rates; a
# plan's slab limits rise) is checked by the validators, which list every problem in a 400.
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_GROUPS = DAYS + ["weekday", "weekend", "holiday", "all"]


def decimal(digits=None):
    """Minor units: an integer, or a decimal string with at most 3 decimals; at most
    10**digits (the validators' limits: 10**5 a rate or percentage, 10**9 an amount)."""
    if digits is None:
        return {"anyOf": [{"type": "integer", "minimum": 0},
                          {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,3})?$"}]}
    return {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 10**digits},
                      {"type": "string", "pattern": "^([0-9]{1,%d}(\\.[0-9]{1,3})?|1%s(\\.0{1,3})?)$"
                       % (digits, "0" * digits)}]}


HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
HHMM24 = {"type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"}
DATE = {"type": "string", "description": "a calendar date YYYY-MM-DD, 1970..2999 (29 February "
        "is left out of the pattern: the API takes it in leap years)",
        "pattern": "^(19[7-9][0-9]|2[0-9]{3})-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|"
                   "(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)$"}
TARIFF_DOC = {
    "type": "object", "additionalProperties": False,
    "description": "docs/tariffs.md; {} (no rates) is valid too; default may be left out when "
                   "there is one rate",
    "anyOf": [{"maxProperties": 0}, {"required": ["rates"]}],
    "properties": {
        "name": STR,
        "rates": {"type": "object", "minProperties": 1, "additionalProperties": decimal(5),
                  "description": "rate name -> minor units per kWh"},
        "default": dict(STR, description="one of the rates"),
        "windows": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["rate"],
            "properties": {"rate": dict(STR, description="one of the rates"),
                           "days": {"type": "array", "minItems": 1,
                                    "items": {"enum": DAY_GROUPS}},
                           "from": HHMM, "to": HHMM24},
            "dependentRequired": {"from": ["to"], "to": ["from"]}}},
        "weekend": {"type": "array", "items": {"enum": DAYS}},
        "holidays": {"type": "array", "items": DATE},
        "standing_per_day": decimal()}}
_LINE_NAME = STR


def _pct(kinds):
    return {"type": "object", "additionalProperties": False, "required": ["name", "percent"],
            "properties": {"name": _LINE_NAME, "percent": decimal(5),   # at most 100,000 %
                           "on": {"type": "array", "minItems": 1,
                                  "items": {"enum": list(kinds)}}}}


PLAN_V1 = {
    "type": "object", "additionalProperties": False, "description": "format 1, docs/billing.md",
    "properties": {
        "name": _LINE_NAME, "currency": STR,
        "energy": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["type"],
             "properties": {"type": {"const": "tou"}}},
            {"type": "object", "additionalProperties": False, "required": ["type", "slabs"],
             "properties": {"type": {"const": "slabs"}, "slabs": {
                 "type": "array", "minItems": 1,
                 "description": "each but the last has upto_kwh, rising; the last takes the "
                                "rest",
                 "items": {"type": "object", "additionalProperties": False,
                           "required": ["rate"],
                           "properties": {"upto_kwh": decimal(9), "rate": decimal(9)}}}}}]},
        "fixed": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "properties": {"name": _LINE_NAME, "per_month": decimal(9), "per_kw": decimal(9)},
            "oneOf": [{"required": ["per_month"], "not": {"required": ["per_kw"]}},
                      {"required": ["per_kw"], "not": {"required": ["per_month"]}}]}},
        "surcharges": {"type": "array", "items": _pct(("energy", "standing", "fixed"))},
        "taxes": {"type": "array", "items": _pct(("energy", "standing", "fixed", "surcharge"))}}}
# Format 2 (gateway/billplan.py) is checked by its own parser, which lists every problem
PLAN_V2 = {"type": "object", "required": ["format"], "properties": {"format": {"const": 2}},
           "description": "format 2, the tariff model of real bills (docs/billing.md)"}
PLAN_DOC = {"oneOf": [PLAN_V1, PLAN_V2], "description": "docs/billing.md"}
# invoices (gateway/invoices.py): money in integer units of 10^-decimals
INVOICE_REF = {"type": "string",
               "pattern": "^([A-Z][A-Z0-9]{0,7}-[0-9]{6,12}|draft-[0-9]{1,12})$",
               "description": "an invoice or credit-note number (INV-000001), or draft-ID"}
INVOICE_STATUS = {"type": "string", "enum": ["draft", "issued", "partly_paid", "paid",
                                             "overdue", "void"]}
INVOICE_LINE = obj(["n", "kind", "text", "base", "rate", "quantity", "amount", "credits"],
                   n=INT, kind=STR, text=STR, base=null(STR), rate=null(STR),
                   quantity=null(STR), amount=INT, credits=null(INT))
PAYMENT = obj(["id", "amount", "date", "reference"], id=INT, amount=INT, date=STR,
              reference=STR)
INVOICE_SUMMARY = obj(
    ["id", "ref", "kind", "number", "meter", "period", "state", "status", "currency",
     "decimals", "total", "tax", "paid", "credited", "balance", "created", "issued", "due",
     "original", "utility"],
    id=INT, ref=STR, kind={"type": "string", "enum": ["invoice", "credit_note"]},
    number=null(STR), meter=STR, period=STR,
    state={"type": "string", "enum": ["draft", "issued", "void"]}, status=INVOICE_STATUS,
    currency=STR, decimals=INT, total=INT, tax=INT, paid=INT, credited=INT, balance=INT,
    created=INT, issued=null(INT), due=null(STR), voided=null(INT), void_reason=null(STR),
    original=null(STR), reason=STR, customer=STR, plan=STR, plan_name=null(STR),
    utc_offset_min=INT, days=INT, service_days=INT, energy_wh=INT,
    reading_open_wh=null(INT), reading_close_wh=null(INT),
    utility=obj(["name", "address"], name=STR, address=STR), **{"from": INT}, to=INT,
    removal=dict(REMOVAL, description="a final invoice: the meter's removal, the credit left"),
    carry_in=dict(STR, description="rounding remainder from the last invoice (a plan with "
                  "rounding.carry), major units"), carry_out=STR)
INVOICE = dict(INVOICE_SUMMARY, required=INVOICE_SUMMARY["required"] + [
    "lines", "payments", "credit_notes"], properties=dict(
    INVOICE_SUMMARY["properties"], lines=arr(INVOICE_LINE), payments=arr(PAYMENT),
    credit_notes=arr(STR)))
INVOICES = obj(["invoices"], invoices=arr(INVOICE_SUMMARY))
INVOICE_SETTINGS = obj(["utility_name", "utility_address", "invoice_series", "credit_series",
                        "due_days", "late_fee_percent"], utility_name=STR, utility_address=STR,
                       invoice_series=STR, credit_series=STR, due_days=STR,
                       late_fee_percent=STR)
BINARY = {"type": "string", "format": "binary"}
_RUN_REF = obj(["meter", "ref"], meter=STR, ref=STR)
BILL_RUN = obj(["period", "group", "meters", "invoiced", "already", "failed"], period=STR,
               group=null(STR), meters=INT, invoiced=arr(_RUN_REF), already=arr(_RUN_REF),
               failed=arr(obj(["meter", "status", "reason"], meter=STR, status=INT,
                              reason=STR)),
               closed=arr(obj(["meter", "disconnected"], meter=STR, disconnected=STR)))
# prepaid statements (gateway/statements.py): money in minor units, as the meter counts it
_RECORD_AT = null(obj(["seq", "t", "wh", "credit"], seq=INT, t=INT, wh=INT, credit=INT))
STATEMENT = obj(
    ["meter", "period", "from", "to", "days", "tariff", "final", "energy_wh", "topups",
     "topups_accepted", "topups_pending", "debits", "standing", "charged", "reconciliation"],
    meter=STR, name=null(STR), period=STR, **{"from": INT}, to=INT, utc_offset_min=INT,
    days=INT, service_days=INT, tariff=STR, currency=STR, final=BOOL, energy_wh=INT,
    topups=arr(OBJ), topups_accepted=INT, topups_pending=INT, removal=REMOVAL,
    debits=arr(obj(["bucket", "wh", "exact", "amount"], bucket=STR, wh=INT, rate=null(STR),
                   exact=STR, amount=INT)),
    standing=null(obj(["days", "per_day", "exact", "amount"], days=INT, per_day=STR,
                      exact=STR, amount=INT)),
    charged=INT, reconciliation=obj(
        ["records", "debited", "drift", "tolerance", "within_tolerance"], records=BOOL,
        opening=_RECORD_AT, closing=_RECORD_AT, metered_wh=null(INT), debited=null(INT),
        drift=null(INT), tolerance=INT, within_tolerance=null(BOOL)))
STATEMENTS = obj(["statements"], statements=arr(obj(
    ["meter", "period", "made", "final", "charged", "debited", "drift"], meter=STR,
    period=STR, made=INT, final=BOOL, charged=INT, debited=null(INT), drift=null(INT))))
STATEMENT_RUN = obj(["period", "group", "meters", "made", "failed"], period=STR,
                    group=null(STR), meters=INT,
                    made=arr(obj(["meter", "charged", "debited", "drift", "within_tolerance"],
                                 meter=STR, charged=INT, debited=null(INT), drift=null(INT),
                                 within_tolerance=null(BOOL))),
                    failed=BILL_RUN["properties"]["failed"],
                    closed=BILL_RUN["properties"]["closed"])
