"""The alert lifecycle (gateway/alerting.py) and its API, on a real SQLite store and real HTTP:
raised, deduplicated, cleared when the cause goes away, reopened within the cooldown,
acknowledged, thresholds per fleet with a per-meter override."""
from pathlib import Path

import pytest

from gateway.alerting import COOLDOWN_S, SETTINGS, Alerting
from gateway.api import make_api
from gateway.notify import Notifier
from gateway.service import ApiServer
from gateway.store import Store
from broker import free_port
from test_api import KEY, Client, rec

T0 = 1_717_200_000


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def env(tmp_path, db):
    store = Store(db("a.db"))
    store.register_meter("m-1", grp="block-a")
    store.register_meter("m-2", grp="block-b")
    store.insert_records("m-1", [rec(1, 0, T0, credit=3000)])
    store.insert_records("m-2", [rec(1, 0, T0, credit=90000)])
    for m in ("m-1", "m-2"):
        store.set_meter_status(m, online=True, last_seen=T0)
    clock = Clock(T0 + 10)
    notifier = Notifier(store, {}, clock=clock)
    alerting = Alerting(store, notifier.on_change, clock=clock)
    srv = ApiServer(make_api(store, None, [KEY], alerting=alerting, notifier=notifier),
                    "127.0.0.1", free_port()).start()
    c = Client(srv.url)
    c.store, c.alerting, c.notifier, c.clock = store, alerting, notifier, clock
    yield c
    srv.stop()
    store.close()


def changes(env):
    return [(a["kind"], a["meter"], ev) for a, ev in env.alerting.evaluate()]


def open_alerts(env):
    return {(a["kind"], a["meter"]) for a in env.alerting.list()}


def test_raised_once_then_updated_not_duplicated(env):
    assert changes(env) == [("low_credit", "m-1", "raised")]
    (a,) = env.alerting.list()
    assert a["explanation"] == "credit 3000 below 5000" and a["severity"] == "warning"
    assert (a["credit"], a["threshold"], a["raised"], a["state"]) == (3000, 5000, T0 + 10, "open")
    env.clock.t += 60
    assert changes(env) == []                       # still true: the same alert, updated
    (b,) = env.alerting.list()
    assert b["id"] == a["id"] and b["updated"] == T0 + 70 and b["raised"] == T0 + 10
    assert env.store.query("SELECT count(*) n FROM alerts")[0]["n"] == 1


def test_cleared_when_the_cause_goes_away_and_reopened_within_cooldown(env):
    changes(env)
    env.clock.t = T0 + 16 * 60                     # both silent past offline_after_s (900)
    assert sorted(changes(env)) == [("offline", "m-1", "raised"), ("offline", "m-2", "raised")]
    (off,) = [a for a in env.alerting.list() if a["meter"] == "m-1" and a["kind"] == "offline"]
    assert off["explanation"] == "last seen 960 s ago" and off["offline_after_s"] == 900
    env.store.set_meter_status("m-1", online=True, last_seen=env.clock.t)
    assert changes(env) == [("offline", "m-1", "cleared")]
    (cl,) = env.alerting.list("all", "offline", "m-1")
    assert cl["cleared"] == env.clock.t and cl["state"] == "cleared"
    env.clock.t += 30                               # its last will, within the 600 s cooldown
    env.store.set_meter_status("m-1", online=False)  # of the clearing: reopened, no notice
    assert changes(env) == []
    (again,) = env.alerting.list("open", "offline", "m-1")
    assert again["id"] == off["id"] and again["cleared"] is None
    assert env.alerting.stats["reopened"] == 1
    env.store.set_meter_status("m-1", online=True, last_seen=env.clock.t)
    changes(env)
    env.clock.t += 601                              # past the cooldown: a new alert
    env.store.set_meter_status("m-1", online=False)
    assert ("offline", "m-1", "raised") in changes(env)
    assert len(env.alerting.list("all", "offline", "m-1")) == 2


def test_fleet_threshold_and_meter_override(env):
    changes(env)
    env.alerting.set_thresholds("", {"low_credit": 2000, "cooldown_s_low_credit": 0})
    assert changes(env) == [("low_credit", "m-1", "cleared")]
    env.alerting.set_thresholds("m-2", {"low_credit": 100000})
    assert changes(env) == [("low_credit", "m-2", "raised")]
    assert env.alerting.list()[0]["explanation"] == "credit 90000 below 100000"
    env.alerting.set_thresholds("m-2", {"low_credit": None})    # removed: the fleet's again
    assert changes(env) == [("low_credit", "m-2", "cleared")]
    assert env.alerting.thresholds("m-2")["low_credit"] == 2000


def test_meter_attribute_low_warn_still_overrides(env):
    env.store.register_meter("m-2", grp="block-b", low_warn=95000)
    assert sorted(changes(env)) == [("low_credit", "m-1", "raised"), ("low_credit", "m-2", "raised")]


def test_api_lists_with_filters_and_acknowledges(env):
    st, b = env.get("/api/alerts")
    assert st == 200 and [(a["kind"], a["meter"], a["detail"]) for a in b["alerts"]] == [
        ("low_credit", "m-1", "credit 3000 below 5000")]
    aid = b["alerts"][0]["id"]
    env.clock.t = T0 + 16 * 60
    assert {(a["kind"], a["meter"]) for a in env.get("/api/alerts")[1]["alerts"]} == {
        ("low_credit", "m-1"), ("offline", "m-1"), ("offline", "m-2")}
    assert [a["meter"] for a in env.get("/api/alerts?kind=offline&meter=m-2")[1]["alerts"]] == ["m-2"]
    assert env.call("POST", "/api/alerts/%d/acknowledge" % aid)[0] == 401
    st, a = env.call("POST", "/api/alerts/%d/acknowledge?by=ops" % aid, key=KEY)
    assert st == 200 and (a["acknowledged"], a["acknowledged_by"], a["state"]) == (
        T0 + 16 * 60, "ops", "acknowledged")
    env.clock.t += 5                                # the first acknowledgement stays
    st, a = env.call("POST", "/api/alerts/%d/acknowledge?by=other" % aid, key=KEY)
    assert (a["acknowledged"], a["acknowledged_by"]) == (T0 + 16 * 60, "ops")
    env.store.set_meter_status("m-2", online=True, last_seen=env.clock.t)
    assert len(env.get("/api/alerts?state=all")[1]["alerts"]) == 3
    assert len(env.get("/api/alerts")[1]["alerts"]) == 2


@pytest.mark.parametrize("path,status,msg", [
    ("/api/alerts?state=closed", 400, "state must be one of open, all"),
    ("/api/alerts?kind=fire", 400, "kind must be one of"),
    ("/api/alerts?meter=M%201", 400, "meter must be a meter id"),
    ("/api/alerts?limit=0", 400, "limit must be between 1 and 1000"),
    ("/api/alerts?colour=red", 400, "unknown parameter 'colour'"),
])
def test_alert_list_rejects_bad_input(env, path, status, msg):
    st, b = env.get(path)
    assert st == status and msg in b["error"], b


@pytest.mark.parametrize("path,status,msg", [
    ("/api/alerts/999/acknowledge", 404, "no alert 999"),
    ("/api/alerts/abc/acknowledge", 404, "no such id 'abc'"),
    ("/api/alerts/0/acknowledge", 404, "no such id '0'"),
    ("/api/alerts/1/acknowledge?by=", 400, "by: 1 to 64"),
])
def test_acknowledge_rejects_bad_input(env, path, status, msg):
    env.get("/api/alerts")
    st, b = env.call("POST", path, key=KEY)
    assert st == status and msg in b["error"], b


def test_thresholds_api(env):
    st, b = env.get("/api/alert-thresholds")
    assert st == 200 and b["fleet"] == {} and b["meters"] == {}
    assert b["defaults"]["offline_after_s"] == 900 and b["defaults"]["cooldown_s_offline"] == 600
    st, b = env.call("PUT", "/api/alert-thresholds", {"values": {"low_credit": 100}}, key=KEY)
    assert st == 200 and b["fleet"] == {"low_credit": 100}
    st, b = env.call("PUT", "/api/alert-thresholds", {"meter": "m-1", "values": {
        "offline_after_s": 60}}, key=KEY)
    assert b["meters"] == {"m-1": {"offline_after_s": 60}}
    assert env.alerting.thresholds("m-1") == dict(env.alerting.thresholds(), offline_after_s=60,
                                                  low_credit=100)


@pytest.mark.parametrize("body,key,status,msg", [
    ({"values": {"low_credit": 1}}, None, 401, "needs an API key"),
    ({}, KEY, 400, "missing field 'values'"),
    ({"values": {}}, KEY, 400, "an empty object"),
    ({"values": {"colour": 1}}, KEY, 400, "unknown setting 'colour'"),
    ({"values": {"low_credit": -1}}, KEY, 400, "values.low_credit: an integer"),
    ({"values": {"low_credit": True}}, KEY, 400, "values.low_credit: an integer"),
    ({"values": {"low_credit": "5"}}, KEY, 400, "values.low_credit: an integer"),
    ({"values": {"low_credit": 1}, "meter": "M 1"}, KEY, 400, "not a meter id"),
    ({"values": {"low_credit": 1}, "meter": "m-9"}, KEY, 404, "no meter 'm-9'"),
    ({"values": {"low_credit": 1}, "x": 1}, KEY, 400, "unknown field 'x'"),
    ({"values": [1]}, KEY, 400, "field 'values'"),
])
def test_thresholds_reject_bad_input(env, body, key, status, msg):
    st, b = env.call("PUT", "/api/alert-thresholds", body, key=key)
    assert st == status and msg in b["error"], b


def _alert_options():
    import argparse
    from gateway import alert_service
    ap = argparse.ArgumentParser()
    alert_service.add_arguments(ap, str, argparse.Action)
    return [o for a in ap._actions for o in a.option_strings if o != "-h" and o != "--help"]


@pytest.mark.parametrize("name", sorted(SETTINGS) + sorted(COOLDOWN_S) + _alert_options()
                         + ["$GATEWAY_WEBHOOK_SECRET", "$GATEWAY_SMTP_PASSWORD"])
def test_alert_settings_kinds_and_options_documented(name):
    """docs/gateway.md "Alerts" names every threshold, kind, option and secret variable."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "gateway.md").read_text()
    section = doc[doc.index("## Alerts"):doc.index("## Command delivery")]
    if name.startswith("cooldown_s_"):   # documented as one pattern
        name = "cooldown_s_<kind>"
    assert "`%s`" % name in section, name
