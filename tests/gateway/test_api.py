"""The REST API, live stream, OpenAPI and /metrics over real HTTP against a real SQLite store."""
import json
import threading
import time
import urllib.error
import urllib.request
from functools import partial

import openpaygo
import pytest

from gateway import forecasts
from gateway.api import make_api
from gateway.service import ApiServer
from gateway.store import Store
from prepay.record import F_RELAY_OPEN
import fixtures
from broker import free_port

KEY = "k-" + "s3cret" * 4
TOKEN_KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"
DAY = 86400
T0 = 1_717_200_000 - 1_717_200_000 % DAY       # 2024-06-01 00:00 UTC
TOU = {"rates": {"peak": "9.5", "offpeak": 4}, "default": "offpeak",
       "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}]}


rec = partial(fixtures.rec, avg_dw=5000, i_ma=2000, pf_m=980, credit=10000)


class Client:
    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None, key=None, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"} if data is not None else {}
        if key:
            h["X-API-Key"] = key
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, ctype, text = r.status, r.headers.get("Content-Type", ""), r.read().decode()
        except urllib.error.HTTPError as e:
            status, ctype, text = e.code, e.headers.get("Content-Type", ""), e.read().decode()
        return status, (json.loads(text) if "json" in ctype else text)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)


@pytest.fixture
def gw(tmp_path, db):
    store = Store(db("gw.db"), utc_offset_min=0)
    store.put_tariff("tou", TOU)
    store.register_meter("m-1", name="Flat 1", grp="block-a", tariff="tou",
                         token_key=TOKEN_KEY, token_starting_code=123456789)
    store.register_meter("m-2", name="Flat 2", grp="block-a")
    store.register_meter("m-3", grp="block-b")
    # m-1: a full day, one record a minute, 10 Wh a minute (600 W)
    store.insert_records("m-1", [rec(s + 1, 10 * s, T0 + 60 * s) for s in range(1441)])
    # m-2: two days, 5 Wh a minute; credit low at the end
    store.insert_records("m-2", [rec(s + 1, 5 * s, T0 + 60 * s, credit=3000 if s > 2000 else 90000)
                                 for s in range(0, 2 * 1440 + 1)])
    store.insert_records("m-3", [rec(1, 0, T0 + 60), rec(2, 10, T0 + 120, flags=F_RELAY_OPEN)])
    deliveries = []
    api = make_api(store, None, [KEY], deliver=lambda m, tx, code: deliveries.append((m, tx, code))
                   or True)
    srv = ApiServer(api, "127.0.0.1", free_port()).start()
    c = Client(srv.url)
    c.store, c.deliveries = store, deliveries
    yield c
    srv.stop()
    store.close()


def test_meters_list_and_detail(gw):
    st, body = gw.get("/api/meters")
    assert st == 200 and [m["id"] for m in body["meters"]] == ["m-1", "m-2", "m-3"]
    st, m = gw.get("/api/meters/m-1")
    assert st == 200 and m["name"] == "Flat 1" and m["group"] == "block-a"
    assert m["high_contiguous"] == 1441 and m["missing"] == []
    assert "token_key" not in m and TOKEN_KEY not in json.dumps(body)
    assert gw.get("/api/meters/nope") == (404, {"error": "no meter 'nope'", "status": 404})


@pytest.mark.parametrize("body,key,status,msg", [
    ({"id": "m-9"}, None, 401, "needs an API key"),
    ({"id": "m-9"}, "wrong", 401, "wrong API key"),
    ({"id": "M 9"}, KEY, 400, "must match"),
    ({"name": "x"}, KEY, 400, "missing field 'id'"),
    ({"id": "m-9", "interval_s": "60"}, KEY, 400, "'interval_s'"),
    ({"id": "m-9", "interval_s": True}, KEY, 400, "'interval_s'"),
    ({"id": "m-9", "token_key": "xyz"}, KEY, 400, "32 hex digits"),
    ({"id": "m-9", "tariff": "nope"}, KEY, 400, "unknown tariff"),
    ({"id": "m-9", "online": True}, KEY, 400, "cannot be set"),
    ({"id": "m-9", "note": {"a": 1}}, KEY, 400, "string or a number"),
    ([1, 2], KEY, 400, "JSON object"),
])
def test_register_rejects_bad_input(gw, body, key, status, msg):
    st, b = gw.call("POST", "/api/meters", body, key=key)
    assert st == status and msg in b["error"], b
    assert not gw.store.is_registered("m-9")


@pytest.mark.parametrize("field,value,msg", [
    ("utc_offset_min", 3 * 10**19, "-720..840"),        # was an OverflowError in SQLite
    ("utc_offset_min", -721, "-720..840"),
    ("max_power_w", -5, "100..1000000"),                  # made every delta a "jump"
    ("max_power_w", 0, "100..1000000"),
    ("interval_s", 0, "1..86400"),
    ("interval_s", 86401, "1..86400"),
    ("low_warn", -1, "0..9007199254740991"),
    ("low_warn", 2**53, "0..9007199254740991"),
    ("token_starting_code", 10**9, "0..999999999"),
    ("token_unit_minor", 0, "1..100000000"),
    ("token_unit_minor", "100", "wrong type"),
    ("token_digits", 10, "one of 9, 12"),
    ("first_seq", -1, "0..4294967295"),
    ("sanctioned_load_w", 10**10, "0..1000000000"),
    ("sanctioned_load_va", -1, "0..1000000000"),
    ("name", "x" * 201, "at most 200"),
    ("group", 7, "must be a string"),
    ("note", 1e300, "string or a number"),
    ("note", 10**20, "string or a number"),
])
def test_register_rejects_out_of_range_attributes(gw, field, value, msg):
    """Every meter attribute has a range: a setting the meter mirrors has the firmware's."""
    st, b = gw.call("POST", "/api/meters", {"id": "m-9", field: value}, key=KEY)
    assert st == 400 and field in b["error"] and msg in b["error"], b
    assert not gw.store.is_registered("m-9")


def test_register_takes_the_firmware_limits(gw):
    from prepay.settings import SETTINGS
    lo, hi = [(a, b) for k, d, a, b, _ in SETTINGS if k == "journal.interval_s"][0]
    for v in (lo, hi):
        assert gw.call("POST", "/api/meters", {"id": "m-9", "interval_s": v}, key=KEY)[0] in (200, 201)
    assert gw.call("POST", "/api/meters", {"id": "m-9", "interval_s": hi + 1}, key=KEY)[0] == 400


@pytest.mark.parametrize("method,path,raw", [
    ("PUT", "/api/tariffs/deep", b'{"rates": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("PUT", "/api/tariffs/deep", b'{"rates": ' + b"[" * 17 + b"]" * 17 + b"}"),
    ("PUT", "/api/billing/plans/deep", b'{"energy": ' + b'{"a":' * 2000 + b"1" + b"}" * 2001),
    ("POST", "/api/meters", b'{"id": "m-9", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("POST", "/api/meters/m-1/topup", b'{"amount": 100, "ref": ' + b"[" * 900 + b"]" * 900 + b"}"),
])
def test_bodies_nest_at_most_16_deep(gw, method, path, raw):
    st, b = gw.call(method, path, raw=raw, key=KEY)
    assert st == 400 and "nests deeper than 16" in b["error"], b


@pytest.mark.parametrize("raw", [b'{"id": "m-9", "x": NaN}', b'{"id": "m-9", "x": Infinity}',
                                 b'{"id": "m-9", "x": -Infinity}'])
def test_bodies_are_strict_json(gw, raw):
    st, b = gw.call("POST", "/api/meters", raw=raw, key=KEY)
    assert st == 400 and "not JSON" in b["error"], b


@pytest.mark.parametrize("path,msg", [
    ("/api/fleet/top?limt=5", "unknown parameter 'limt' (this endpoint takes: from, limit, to)"),
    ("/api/tariffs?x=1", "unknown parameter 'x' (this endpoint takes: none)"),
    ("/api/meters?x=1", "unknown parameter 'x' (this endpoint takes: limit, offset, q, sort, "
                        "status)"),
    ("/api/events?limit=1&limit=2", "parameter 'limit' given more than once"),
    ("/api/events?limit=", "limit must be an integer, got ''"),
    ("/api/events?limit=+5", "limit must be an integer"),
    ("/api/events?limit=1_0", "limit must be an integer"),
    ("/api/events?limit=" + "9" * 30, "limit must be between 1 and 1000"),
    ("/api/events?from=", "from: expected epoch seconds or ISO 8601, got ''"),
    ("/api/events?from=1_700_000_000", "from: expected epoch seconds or ISO 8601"),
])
def test_query_parameters_are_strict(gw, path, msg):
    st, b = gw.get(path)
    assert st == 400 and msg in b["error"], b


def test_unparsable_request_gets_a_json_400(gw):
    import socket
    host, port = gw.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /api/meters HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 5000 + b"\r\n\r\n")
        reply = b""
        while True:   # HTTP/1.0: the server closes after its answer
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.0 400") or reply.startswith("HTTP/1.1 400"), reply[:200]
    assert '"error": "bad request: it could not be parsed"' in reply


def test_whole_numbers_are_integers(gw):
    """JSON Schema's rule, which the OpenAPI description follows: 60.0 is the integer 60."""
    st, m = gw.call("POST", "/api/meters", raw=b'{"id": "m-9", "interval_s": 60.0, "low_warn": 1e3}',
                    key=KEY)
    assert st == 201 and (m["interval_s"], m["low_warn"]) == (60, 1000), m
    st, b = gw.call("POST", "/api/meters", raw=b'{"id": "m-9", "interval_s": 60.5}', key=KEY)
    assert st == 400 and "'interval_s'" in b["error"]
    st, b = gw.call("POST", "/api/meters", raw=b'{"id": "m-9", "x": 1e400}', key=KEY)
    assert st == 400 and "out of range" in b["error"]


def test_register_bad_json_and_oversized_body(gw):
    st, b = gw.call("POST", "/api/meters", raw=b"{not json", key=KEY)
    assert st == 400 and "not valid JSON" in b["error"]
    st, b = gw.call("POST", "/api/meters", raw=b"{" + b" " * 40000 + b"}", key=KEY)
    assert st == 413


def test_register_update_remove(gw):
    st, m = gw.call("POST", "/api/meters", {"id": "m-9", "name": "New", "group": "g",
                                            "interval_s": 30, "address": "Plot 4"}, key=KEY)
    assert st == 201 and m["interval_s"] == 30 and m["address"] == "Plot 4"
    st, m = gw.call("POST", "/api/meters", {"id": "m-9", "name": "Renamed"},
                    headers={"Authorization": "Bearer " + KEY})
    assert st == 200 and m["name"] == "Renamed" and m["address"] == "Plot 4"
    assert gw.call("DELETE", "/api/meters/m-9")[0] == 401
    assert gw.call("DELETE", "/api/meters/m-9", key=KEY) == (200, {"removed": "m-9"})
    assert gw.get("/api/meters/m-9")[0] == 404


def test_readings_by_hour_day_week_month(gw):
    st, b = gw.get("/api/meters/m-1/readings?from=%d&to=%d&agg=hour" % (T0, T0 + DAY))
    assert st == 200 and len(b["rows"]) == 24
    assert all(r["wh"] == 600 and r["avg_w"] == 600.0 for r in b["rows"])
    assert b["rows"][0]["t"] == T0 and b["total_wh"] == 14400
    assert b["rows"][0]["max_w"] == 500.0 and b["rows"][0]["max_30min_w"] == 600
    # cost: 4 minor/kWh off-peak, 9.5 peak (18-22): exact, rounded down per bucket row
    assert b["rows"][0]["cost"] == 2 and b["rows"][18]["cost"] == 5   # 2.4 and 5.7
    st, b = gw.get("/api/meters/m-1/readings?from=2024-06-01&to=2024-06-02&agg=day")
    assert st == 200 and [(r["wh"], r["records"]) for r in b["rows"]] == [(14400, 1440)]
    assert b["rows"][0]["cost"] == (20 * 600 * 4000 + 4 * 600 * 9500) // 10**6
    st, b = gw.get("/api/meters/m-2/readings?from=2024-05-01&to=2024-07-01&agg=month")
    # the first record ends 2024-06-01 00:00, so it is counted in May (with no energy)
    assert [(r["t"], r["wh"], r["records"]) for r in b["rows"]] == \
        [(T0 - 31 * DAY, 0, 1), (T0, 2 * 1440 * 5, 2880)]
    st, b = gw.get("/api/meters/m-2/readings?from=2024-05-27&to=2024-06-10&agg=week")
    assert [r["t"] for r in b["rows"]] == [T0 - 5 * DAY]   # the Monday, 2024-05-27
    st, b = gw.get("/api/meters/m-1/readings?from=%d&to=%d&agg=raw" % (T0, T0 + 300))
    assert [r["seq"] for r in b["rows"]] == [1, 2, 3, 4, 5] and b["rows"][0]["v"] == 230.0


def test_readings_local_time(gw):
    gw.store.register_meter("m-2", utc_offset_min=330)    # IST: local days start at 18:30 UTC
    st, b = gw.get("/api/meters/m-2/readings?from=%d&to=%d&agg=day" % (T0 - DAY, T0 + 3 * DAY))
    assert [r["t"] for r in b["rows"]] == [T0 - 19800, T0 + DAY - 19800, T0 + 2 * DAY - 19800]
    assert sum(r["wh"] for r in b["rows"]) == 2 * 1440 * 5


@pytest.mark.parametrize("query,msg", [
    ("agg=fortnight", "agg must be one of"),
    ("from=yesterday", "expected epoch seconds or ISO 8601"),
    ("from=200&to=100", "to must be after from"),
    ("from=0&to=9999999999", "longer than 20 years"),
])
def test_readings_bad_queries(gw, query, msg):
    st, b = gw.get("/api/meters/m-1/readings?" + query)
    assert st == 400 and msg in b["error"]


@pytest.mark.parametrize("path", [
    "/api/meters/m-1/readings?agg=month&from=%d&to=1000000000000000" % (10**15 - 86400),
    "/api/meters/m-1/readings?agg=month&to=1000000000000000",   # was a TypeError
    "/api/meters/m-1/readings?to=-1",
    "/api/meters/m-1/readings?from=0001-01-01T00:00:00%2B14:00",  # before 1970
    "/api/meters/m-1/tou?to=99999999999999999999999",
    "/api/fleet/readings?agg=month&from=9999-12-31",
    "/api/groups/block-a/readings?to=3000-01-02",
    "/api/events?from=-5",
])
def test_time_parameters_are_bounded(gw, path):
    st, b = gw.get(path)
    assert st == 400 and "1970 to 3000" in b["error"], b
    st, b = gw.get("/api/fleet/top?from=1e15")
    assert st == 400 and "expected epoch seconds or ISO 8601" in b["error"], b


def test_fleet_groups_top_and_tou(gw):
    q = "from=%d&to=%d" % (T0, T0 + DAY)
    st, b = gw.get("/api/fleet/readings?agg=day&" + q)
    assert [r["wh"] for r in b["rows"]] == [14400 + 7200 + 10]
    st, b = gw.get("/api/groups/block-a/readings?agg=hour&" + q)
    assert len(b["rows"]) == 24 and b["rows"][5]["wh"] == 900
    st, b = gw.get("/api/fleet/top?limit=2&" + q)
    assert [(m["meter"], m["wh"]) for m in b["meters"]] == [("m-1", 14400), ("m-2", 7200)]
    st, b = gw.get("/api/meters/m-1/tou?" + q)
    assert b["buckets"] == [{"bucket": "offpeak", "wh": 12000, "cost": 48},
                            {"bucket": "peak", "wh": 2400, "cost": 22}]


def test_realtime_credit_alerts_events(gw):
    s = gw.store
    s.set_live("m-1", {"t": T0 + DAY + 5, "p": 612.5, "credit": 4200, "relay": True})
    s.set_meter_status("m-1", online=True)
    s.insert_events("m-1", [{"seq": 1, "t": T0 + 10, "kind": "relay", "closed": True},
                            {"seq": 2, "t": T0 + 20, "kind": "low_credit", "credit": 4200}])
    s.dead_letter("pm/m-1/rec", b"\x01\x00", "rec: shorter than header")
    s.insert_records("m-3", [rec(3, 5, T0 + 180, flags=F_RELAY_OPEN),        # went backwards
                             rec(4, 10**7, T0 + 240, flags=F_RELAY_OPEN)])   # and jumped
    st, b = gw.get("/api/meters/m-1/realtime")
    assert b["telemetry"]["p"] == 612.5 and b["online"] is True and b["last_record"]["seq"] == 1441
    st, b = gw.get("/api/meters/m-1/credit")
    assert (b["credit"], b["source"]) == (4200, "live")
    m1 = gw.store.meter("m-1")
    assert b["days_left"] == forecasts.days_left_of(gw.store, m1, 4200, int(time.time()))["days"]
    st, b = gw.get("/api/meters/m-1/events?kind=relay")
    assert [e["data"]["closed"] for e in b["events"]] == [True]
    assert len(gw.get("/api/events?limit=5")[1]["events"]) == 2
    st, b = gw.get("/api/alerts")
    kinds = {(a["kind"], a["meter"]) for a in b["alerts"]}
    # m-1's from above; m-2's (credit 3000 at the end, never online) and m-3's open relay
    # are the gw fixture's records
    assert {("low_credit", "m-1"), ("low_credit", "m-2"), ("supply_cut", "m-3"),
            ("offline", "m-2"), ("dead_letters", None), ("counter_anomaly", "m-3")} <= kinds
    assert ("offline", "m-1") not in kinds
    st, b = gw.get("/api/dead-letters")
    assert b["dead_letters"][0]["reason"] == "rec: shorter than header"
    assert b["dead_letters"][0]["payload_hex"] == "0100"


def test_topup_vends_reference_compatible_tokens(gw):
    st, tx = gw.call("POST", "/api/meters/m-1/topup", {"amount": 25000, "ref": "receipt-1"}, key=KEY)
    assert st == 201 and tx["token_value"] == 250 and tx["status"] == "sent"
    st, tx2 = gw.call("POST", "/api/meters/m-1/topup", {"amount": 100}, key=KEY)
    assert tx2["token_count"] > tx["token_count"]
    for t in (tx, tx2):   # the openpaygo reference decodes what the shared codec vended
        value, _type, count, _used = openpaygo.decode_token(
            token=t["token"], secret_key=TOKEN_KEY, count=0, starting_code=123456789)
        assert (value, count) == (t["token_value"], t["token_count"])
    assert gw.deliveries == [("m-1", "tx-%d" % tx["id"], tx["token"]),
                             ("m-1", "tx-%d" % tx2["id"], tx2["token"])]
    assert gw.store.command_result("m-1", {"id": "tx-%d" % tx["id"], "cmd": "token", "ok": True})
    gw.store.command_result("m-1", {"id": "tx-%d" % tx2["id"], "cmd": "token", "ok": False,
                                    "error": "used"})
    assert gw.get("/api/meters/m-1/transactions")[0] == 401   # token codes need a key
    st, b = gw.get("/api/meters/m-1/transactions", key=KEY)
    assert [t["status"] for t in b["transactions"]] == ["rejected: used", "accepted"]
    st, c = gw.get("/api/meters/m-1/credit")
    assert (c["tokens_vended"], c["vended_total"], c["accepted_total"]) == (2, 25100, 25000)


@pytest.mark.parametrize("meter,body,key,status,msg", [
    ("m-1", {"amount": 25000}, None, 401, "API key"),
    ("m-1", {}, KEY, 400, "missing field 'amount'"),
    ("m-1", {"amount": "100"}, KEY, 400, "positive integer"),
    ("m-1", {"amount": True}, KEY, 400, "positive integer"),
    ("m-1", {"amount": -100}, KEY, 400, "positive integer"),
    ("m-1", {"amount": 150}, KEY, 400, "multiple of 100"),
    ("m-1", {"amount": 99600}, KEY, 400, "largest single token"),
    ("m-1", {"amount": 100, "ref": "x" * 300}, KEY, 400, "200 characters"),
    ("m-2", {"amount": 100}, KEY, 409, "no token key"),
    ("m-8", {"amount": 100}, KEY, 404, "no meter"),
])
def test_topup_rejects(gw, meter, body, key, status, msg):
    st, b = gw.call("POST", "/api/meters/%s/topup" % meter, body, key=key)
    assert st == status and msg in b["error"], b
    assert gw.store.query("SELECT count(*) n FROM transactions")[0]["n"] == 0


def test_tariffs(gw):
    st, b = gw.get("/api/tariffs")
    assert [(t["name"], t["meters"]) for t in b["tariffs"]] == [("tou", ["m-1"])]
    assert gw.call("PUT", "/api/tariffs/flat", {"rates": {"std": 7}})[0] == 401
    st, t = gw.call("PUT", "/api/tariffs/flat", {"rates": {"std": 7}}, key=KEY)
    assert st == 200 and t["spec"] == {"rates": {"std": 7}}
    st, b = gw.call("PUT", "/api/tariffs/bad", {"rates": {"std": -1}, "colour": 1}, key=KEY)
    # every problem in the operator's English, as clear as the parser always said it
    # (prepay/problems.py; the meter's page says the same problems in its consumer's language)
    assert st == 400 and b["error"] == (
        "invalid tariff: tariff: unknown key 'colour' (known: name, rates, default, windows, "
        "weekend, holidays, standing_per_day); tariff.rates.std: must not be negative; "
        "tariff.default: must name one of the rates ()"), b
    assert gw.get("/api/tariffs/bad")[0] == 404
    assert gw.get("/api/tariffs/flat")[1]["spec"]["rates"] == {"std": 7}


def test_health_metrics_openapi_and_errors(gw):
    st, h = gw.get("/api/health")
    assert st == 200 and h["status"] == "ok" and h["database"]["ok"] and h["database"]["size_bytes"] > 0
    st, text = gw.get("/metrics")
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    # prometheus_client writes every value as a float ("3.0"), and the same sample names
    assert lines["gateway_records_total"] == "%.1f" % (1441 + 2881 + 2)
    assert lines['gateway_meters{state="offline"}'] == "3.0"
    assert "gateway_ingest_rate" in lines and "gateway_ingest_lag_seconds" in lines
    st, spec = gw.get("/openapi.json")
    assert spec["openapi"].startswith("3.") and "/api/meters/{meter_id}/readings" in spec["paths"]
    assert spec["paths"]["/api/meters"]["post"]["security"] == [{"apiKey": []}]
    assert len(spec["paths"]) >= 20
    assert gw.get("/api/nothing") == (404, {"error": "no such endpoint", "status": 404})
    assert gw.call("PATCH", "/api/meters")[0] == 405


def test_live_stream_pushes_records_and_events(gw):
    got, ready = [], threading.Event()

    def listen():
        req = urllib.request.Request(gw.url + "/api/stream?meter=m-2")
        with urllib.request.urlopen(req, timeout=10) as r:
            event = None
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "hello":
                        ready.set()
                    else:
                        got.append((event, json.loads(line[6:])))
                    if len(got) >= 2:
                        return

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    assert ready.wait(10)
    gw.store.insert_records("m-1", [rec(1442, 14420, T0 + DAY + 60)])   # other meter: filtered
    gw.store.insert_records("m-2", [rec(2882, 14405, T0 + 2 * DAY + 60)])
    gw.store.insert_events("m-2", [{"seq": 9, "t": T0, "kind": "boot", "fw": "1.0"}])
    th.join(10)
    assert [g[0] for g in got] == ["records", "events"]
    assert got[0][1]["meter"] == "m-2" and got[0][1]["data"][0]["seq"] == 2882
    assert got[1][1]["data"][0]["fw"] == "1.0"


def test_commands_need_the_mqtt_side(gw):
    # this API runs without an outbox (no broker): commands are refused, nothing queued
    st, b = gw.call("POST", "/api/meters/m-1/relay", {"action": "open"}, key=KEY)
    assert st == 503 and "MQTT" in b["error"]
    st, b = gw.get("/api/meters/m-1/commands", key=KEY)
    assert st == 200 and b["commands"] == []
