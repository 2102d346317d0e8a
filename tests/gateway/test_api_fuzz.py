"""A bounded schemathesis run against a real `python -m gateway` (real mosquitto, real SQLite,
real HTTP) with a valid API key: every operation of /openapi.json gets generated valid and
invalid requests, and every response must be below 500 and conform to the description
(status codes, content types, schemas; valid data accepted, invalid data rejected), with all
of schemathesis's checks. The budget is a fixed number of examples per operation."""
import datetime
import json
import time
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from gateway import service_dates
from gateway_process import GatewayProcess

KEY = "fuzz-key-" + "k" * 16
PASSWORD = "fuzz-mqtt-" + "p" * 12
EXAMPLES = 100     # per operation: about a minute for the whole API on a 2-core machine
TOU = {"rates": {"peak": "9.5", "offpeak": 4}, "default": "offpeak",
       "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}]}
SPAN_MAX = 20 * 366 * 86400    # gateway/queries.py: a window is at most 20 years


def put(url, path, body, method="PUT"):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json", "X-API-Key": KEY})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 201)


def window_holds(query, default_days):
    """What OpenAPI cannot say about two parameters together: from < to, at most 20 years
    apart (a missing to is now; a missing from is default_days before to)."""
    try:
        to = int(query.get("to", time.time()))
        frm = int(query.get("from", to - default_days * 86400))
    except (TypeError, ValueError):   # not integers: a negative case, left to the checks
        return True
    return frm < to and to - frm <= SPAN_MAX


def period_holds(query):
    """What a pattern cannot say about a read-to-read period (gateway/billing.py): two real
    dates, the first not after the last, at most MAX_PERIOD_DAYS days."""
    from gateway.billing import MAX_PERIOD_DAYS
    p = query.get("period")
    if not isinstance(p, str) or ".." not in p:
        return True
    try:
        a, b = (datetime.date.fromisoformat(x) for x in p.split("..", 1))
    except ValueError:   # 2023-02-30 fits the pattern: the API refuses it, as it must
        return False
    return a <= b and (b - a).days + 1 <= MAX_PERIOD_DAYS


def topup_refs(doc, url, case):
    """A top-up is a whole number of the meter's token units, at most one token's worth."""
    try:
        with urllib.request.urlopen("%s/api/meters/%s" % (url, case.path_parameters["meter_id"]),
                                    timeout=10) as r:
            m = json.loads(r.read())
    except OSError:   # no such meter: the API answers 404 whatever the amount
        return doc
    unit, units = m.get("token_unit_minor", 100), 999999 if m.get("token_digits") == 12 else 995
    doc["amount"] = unit * (1 + (doc.get("amount", 1) - 1) % units)
    return doc


def tariff_refs(doc, url, case):
    """A tariff's default and window rates name one of its rates (prepay/tariff.py)."""
    names = sorted(doc.get("rates") or {}) or ["flat"]
    doc.setdefault("rates", {"flat": 1})
    doc["default"] = names[len(doc.get("default", "")) % len(names)]
    for i, w in enumerate(doc.get("windows", [])):
        w["rate"] = names[i % len(names)]
        if w.get("from") is not None and w["from"] == w.get("to", "")[:5].replace("24:00", "00:00"):
            del w["from"], w["to"]      # from == to is no window: omit both for a whole day
    return doc


def plan_refs(doc, url, case):
    """A plan's slab limits rise and the last slab has none (gateway/billing.py); a format-2
    plan (the schema says only {"format": 2}) gets lines its parser accepts."""
    if doc.get("format") == 2:
        return {"format": 2, "lines": [{"id": "e", "type": "unit", "rate": "0.1"}]}
    slabs = (doc.get("energy") or {}).get("slabs")
    if slabs:
        for i, s in enumerate(slabs):
            s.pop("upto_kwh", None)
            if i < len(slabs) - 1:
                s["upto_kwh"] = 100 * (i + 1)
    return doc


def meter_refs(doc, url, case):
    """A removal date is not before the meter's connection nor after its local today
    (gateway/service_dates.py), with what the meter has stored: a case whose dates do not
    hold clears the removal instead (null, which always does)."""
    try:
        with urllib.request.urlopen("%s/api/meters/%s" % (url, doc.get("id")), timeout=10) as r:
            m = json.loads(r.read())
    except (OSError, ValueError):   # a new meter (or an id the API refuses anyway)
        m = {}
    dates = {k: doc[k] if k in doc else m.get(k)
             for k in ("connected", "disconnected", "utc_offset_min")}
    if service_dates.check(dates["connected"], dates["disconnected"],
                           int(dates["utc_offset_min"] or 0)):
        doc["disconnected"] = None
    return doc


# What JSON Schema cannot say about a request: set in each valid (positive) case before it
# is sent, so the checks see a request the API must accept.
REFS = {("PUT", "/api/tariffs/{name}"): tariff_refs, ("PUT", "/api/billing/plans/{name}"): plan_refs,
        ("POST", "/api/meters/{meter_id}/topup"): topup_refs, ("POST", "/api/meters"): meter_refs}
WINDOW_DAYS = {"/api/meters/{meter_id}/readings": 1, "/api/groups/{group}/readings": 1,
               "/api/fleet/readings": 1, "/api/fleet/top": 30, "/api/meters/{meter_id}/tou": 31}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from host_tools.broker import Broker
    d = tmp_path_factory.mktemp("fuzz")
    b = Broker(d / "mq", users={"gateway": PASSWORD}).start()
    gw = GatewayProcess(d / "gw", b, PASSWORD, [KEY], extra=["--no-ha-discovery"]).start()
    put(gw.url, "/api/tariffs/tou", TOU)
    put(gw.url, "/api/billing/plans/default", {"currency": "INR", "energy": {"type": "tou"}})
    put(gw.url, "/api/meters", {"id": "m-1", "tariff": "tou", "token_key": "ab" * 16},
        method="POST")
    yield gw
    gw.stop()
    b.stop()


def test_api_conforms_to_its_openapi(gateway):
    schema = schemathesis.openapi.from_url(gateway.url + "/openapi.json")
    # The live stream never ends, so no request to it can be checked whole; test_api.py
    # tests it over real HTTP.
    schema = schema.exclude(path="/api/stream")
    failures = {}
    ran = 0
    for result in schema.get_all_operations():
        op = result.ok()
        days = WINDOW_DAYS.get(op.path)
        refs = REFS.get((op.method.upper(), op.path))

        @given(case=st.one_of(op.as_strategy(GenerationMode.POSITIVE),
                              op.as_strategy(GenerationMode.NEGATIVE)))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case):
            positive = case.meta is None or case.meta.generation.mode.is_positive
            if positive and days is not None and not window_holds(case.query or {}, days):
                return
            body = case.body if isinstance(case.body, dict) else {}
            if positive and not (period_holds(case.query or {}) and period_holds(body)):
                return
            if positive and refs and isinstance(case.body, dict):
                case.body = refs(case.body, gateway.url, case)
            case.call_and_validate(headers={"X-API-Key": KEY}, timeout=30)

        ran += 1
        try:
            run()
        except BaseException as e:   # schemathesis raises an exception group of its failures
            if isinstance(e, KeyboardInterrupt):
                raise
            failures[op.label] = str(e)[:3000]
    assert ran >= 25
    assert not failures, "\n\n".join("%s\n%s" % kv for kv in failures.items()) + \
        "\n\ngateway log:\n" + gateway.log()[-3000:]
