"""Alerting in the running gateway (gateway/alert_service.py): a real `python -m gateway`
against real mosquitto evaluates alerts on its own and sends a signed webhook to a real
receiver; its secret comes from a file, never its command line (the refused options:
test_service_secrets.py). The subscription routes and their bad inputs over real HTTP."""
import json

import pytest

from gateway.notify_webhook import HEADER, verify
from gateway_process import GatewayProcess
from test_alerting import env  # noqa: F401  (the fixture)
from test_api import KEY
from test_notify import Receiver
from waits import wait_until

PASSWORD = "mqtt-" + "pw" * 8
SECRET = "whsec-" + "z" * 26


def test_running_gateway_raises_and_sends_a_signed_webhook(broker_factory, tmp_path):
    b = broker_factory(users={"gateway": PASSWORD})
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    rx = Receiver([500, 204])
    gw = GatewayProcess(tmp_path / "gw", b, PASSWORD, [KEY], extra=[
        "--alert-every-s", "1", "--webhook-secret-file", str(secret_file), "--no-ha-discovery"])
    try:
        with gw:
            from test_api import Client
            c = Client(gw.url)
            st, sub = c.call("POST", "/api/alert-subscriptions", {
                "channel": "webhook", "target": rx.url, "kinds": ["offline"]}, key=KEY)
            assert st == 201 and sub["kinds"] == ["offline"]
            assert c.call("POST", "/api/meters", {"id": "m-1"}, key=KEY)[0] == 201
            # never seen: offline, raised by the service's own loop; 500 first, then retried
            assert wait_until(lambda: len(rx.got) >= 2, 30), gw.log()
            headers, body = rx.got[-1]
            assert verify(SECRET.encode(), body, headers[HEADER],
                          now=int(headers[HEADER].split(",")[0][2:]))
            (n,) = json.loads(body)["notices"]
            assert (n["event"], n["alert"]["kind"], n["alert"]["meter"]) == ("raised", "offline", "m-1")
            assert wait_until(lambda: c.call("GET", "/api/alert-deliveries", key=KEY)[1][
                "deliveries"][0]["status"] == "delivered", 10)
            st, d = c.call("GET", "/api/alert-deliveries", key=KEY)
            assert [a["status_code"] for a in d["deliveries"][0]["attempt_log"]] == [500, 204]
            h = c.get("/api/health")[1]
            assert h["alerts"]["raised"] >= 1 and h["notifications"]["delivered"] == 1
            cmdline = open("/proc/%d/cmdline" % gw.proc.pid, "rb").read().decode()
            assert SECRET not in cmdline and SECRET not in gw.log()
    finally:
        rx.close()


def test_subscriptions_api(env):  # noqa: F811
    assert env.get("/api/alert-subscriptions")[0] == 401
    st, s = env.call("POST", "/api/alert-subscriptions", {
        "channel": "email", "target": "ops@example.org", "groups": ["block-a"],
        "kinds": ["offline", "low_credit", "offline"]}, key=KEY)
    assert st == 201 and (s["kinds"], s["groups"], s["meters"]) == (
        ["low_credit", "offline"], ["block-a"], [])
    st, b = env.call("GET", "/api/alert-subscriptions", key=KEY)
    assert [x["id"] for x in b["subscriptions"]] == [s["id"]]
    env.get("/api/alerts")                          # m-1 (block-a) low credit: a notice
    assert env.store.query("SELECT sub, event FROM alert_notices") == [
        {"sub": s["id"], "event": "raised"}]
    assert env.call("DELETE", "/api/alert-subscriptions/%d" % s["id"], key=KEY) == (
        200, {"removed": s["id"]})
    assert env.call("DELETE", "/api/alert-subscriptions/%d" % s["id"], key=KEY)[0] == 404
    assert env.store.query("SELECT count(*) n FROM alert_notices")[0]["n"] == 0
    assert env.call("GET", "/api/alert-deliveries?status=pending", key=KEY) == (
        200, {"deliveries": []})


@pytest.mark.parametrize("body,status,msg", [
    ({"target": "ops@example.org"}, 400, "missing field 'channel'"),
    ({"channel": "sms", "target": "1"}, 400, "field 'channel': webhook or email"),
    ({"channel": "email", "target": "not an address"}, 400, "an email address"),
    ({"channel": "webhook", "target": "ftp://x/y"}, 400, "an http(s) URL"),
    ({"channel": "webhook", "target": "http://x/" + "a" * 600}, 400, "an http(s) URL"),
    ({"channel": "email", "target": "a@b.org", "kinds": ["fire"]}, 400, "'fire' is not an alert kind"),
    ({"channel": "email", "target": "a@b.org", "kinds": "offline"}, 400, "field 'kinds'"),
    ({"channel": "email", "target": "a@b.org", "meters": ["M 1"]}, 400, "'M 1' is not a meter id"),
    ({"channel": "email", "target": "a@b.org", "groups": [1]}, 400, "1 is not a group name"),
    ({"channel": "email", "target": "a@b.org", "groups": ["g"] * 101}, 400, "at most 100"),
    ({"channel": "email", "target": "a@b.org", "secret": "x"}, 400, "unknown field 'secret'"),
    ([1], 400, "JSON object"),
])
def test_subscribe_rejects_bad_input(env, body, status, msg):  # noqa: F811
    st, b = env.call("POST", "/api/alert-subscriptions", body, key=KEY)
    assert st == status and msg in b["error"], b


@pytest.mark.parametrize("method,path,status,msg", [
    ("DELETE", "/api/alert-subscriptions/abc", 404, "no such id 'abc'"),
    ("DELETE", "/api/alert-subscriptions/77", 404, "no subscription 77"),
    ("GET", "/api/alert-deliveries?status=lost", 400, "status must be one of"),
    ("GET", "/api/alert-deliveries?limit=5000", 400, "limit must be between"),
])
def test_subscription_routes_reject_bad_input(env, method, path, status, msg):  # noqa: F811
    st, b = env.call(method, path, key=KEY)
    assert st == status and msg in b["error"], b
