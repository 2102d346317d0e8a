"""The supply, tamper and forecast alert kinds (gateway/event_alerts.py, the runs_out
condition of gateway/alerts.py) through the persisted lifecycle (gateway/alerting.py) on a
real SQLite store: raised from the meter's events and records with their numbers in words,
thresholds per fleet with a per-meter override, cleared when the cause ages out."""
import pytest

from gateway.alerting import Alerting
from gateway.store import Store
from test_alerting import Clock

T0 = 1_717_200_000 - 1_717_200_000 % 86400      # 2024-06-01 00:00 UTC
FLAT = {"rates": {"std": 5}, "default": "std", "standing_per_day": 30}


def rec(seq, t, wh=0, v_dv=2300, credit=90000):
    return (seq, t, wh, 10000, v_dv, 4350, 1000, 5000, credit, 0)


@pytest.fixture
def env(tmp_path):
    store = Store(tmp_path / "a.db")
    for m in ("m-1", "m-2"):
        store.register_meter(m)
        store.insert_records(m, [rec(1, T0)])
        store.set_meter_status(m, online=True, last_seen=T0)
    clock = Clock(T0 + 10)
    yield store, Alerting(store, clock=clock), clock
    store.close()


def opened(al):
    return {(a["kind"], a["meter"]): a for a in al.list()}


def test_power_quality_events_raise_voltage_frequency_and_current_alerts(env):
    store, al, clock = env
    store.insert_events("m-1", [
        {"seq": 1, "t": T0 + 1, "kind": "pq", "what": "sag", "start": T0 - 5, "end": T0 + 1,
         "worst": 1843, "limit": 2070},
        {"seq": 2, "t": T0 + 2, "kind": "pq", "what": "under_voltage", "start": T0,
         "end": T0 + 2, "worst": 1990, "limit": 2070},
        {"seq": 3, "t": T0 + 3, "kind": "pq", "what": "swell", "start": T0 + 2, "end": T0 + 3,
         "worst": 2651, "limit": 2530},
        {"seq": 4, "t": T0 + 4, "kind": "pq", "what": "frequency", "start": T0 + 3,
         "end": T0 + 4, "worst": 5130, "limit": 5100},
        {"seq": 5, "t": T0 + 5, "kind": "power_limit", "action": "trip", "p": 5200,
         "limit": 4600, "trips": 1},
        {"seq": 6, "t": T0 + 6, "kind": "power_limit", "action": "retry", "p": 0,
         "limit": 4600, "trips": 1},
        {"seq": 7, "t": T0 + 7, "kind": "pq", "what": "over_current", "start": T0 + 6,
         "end": T0 + 7, "worst": 41500, "limit": 40000}])
    al.evaluate()
    a = opened(al)
    assert set(a) == {(k, "m-1") for k in ("under_voltage", "over_voltage", "frequency",
                                           "over_current")}
    assert a["under_voltage", "m-1"]["explanation"] == \
        "2 sag/under_voltage events in 24 h, worst 184.3 V (limit 207.0 V)"
    assert a["under_voltage", "m-1"]["worst"] == 1843
    assert a["over_voltage", "m-1"]["explanation"] == \
        "1 swell event in 24 h, worst 265.1 V (limit 253.0 V)"
    assert a["frequency", "m-1"]["explanation"] == \
        "1 frequency event in 24 h, worst 51.30 Hz (limit 51.00 Hz)"
    assert a["over_current", "m-1"]["explanation"] == (
        "1 over_current event in 24 h, worst 41.500 A (limit 40.000 A); "
        "power limit tripped 1 time in 24 h, last at 5200 W (limit 4600 W)")
    assert a["over_current", "m-1"]["count"] == 2
    # a day later the events have aged out: every one clears
    clock.t = T0 + 86400 + 10
    store.set_meter_status("m-1", last_seen=clock.t)
    store.set_meter_status("m-2", last_seen=clock.t)
    changes = {(x["kind"], ev) for x, ev in al.evaluate()}
    assert {k for k, ev in changes if ev == "cleared"} == {
        "under_voltage", "over_voltage", "frequency", "over_current"}


def test_tamper_from_the_meters_anomaly_events(env):
    store, al, clock = env
    store.insert_events("m-2", [{"seq": 1, "t": T0 + 2, "kind": "anomaly",
                                 "what": "register_backwards", "detail": -120}])
    al.evaluate()
    (a,) = al.list()
    assert (a["kind"], a["meter"], a["severity"]) == ("tamper", "m-2", "critical")
    assert a["explanation"] == ("the meter reported 1 anomaly in 24 h (register_backwards), "
                                "last: register_backwards -120")


def test_record_voltage_against_fleet_and_meter_thresholds(env):
    store, al, clock = env
    store.insert_records("m-1", [rec(2, T0 + 60, v_dv=2561)])
    store.insert_records("m-2", [rec(2, T0 + 60, v_dv=2450)])
    clock.t = T0 + 70
    al.evaluate()
    a = opened(al)
    assert set(a) == {("over_voltage", "m-1")}
    assert a["over_voltage", "m-1"]["explanation"] == \
        "average 256.1 V over the newest interval, above 253.0 V"
    assert (a["over_voltage", "m-1"]["voltage_dv"], a["over_voltage", "m-1"]["threshold_dv"]) \
        == (2561, 2530)
    # the fleet tightens to 244.0 V, m-1 is allowed 260.0 V
    al.set_thresholds("", {"over_voltage_dv": 2440})
    al.set_thresholds("m-1", {"over_voltage_dv": 2600})
    al.evaluate()
    assert set(opened(al)) == {("over_voltage", "m-2")}
    # an old record says nothing about the supply now
    clock.t = T0 + 60 + 901
    for m in ("m-1", "m-2"):
        store.set_meter_status(m, last_seen=clock.t)
    al.evaluate()
    assert set(opened(al)) == set()


def test_runs_out_from_the_forecast(tmp_path):
    store = Store(tmp_path / "r.db")
    store.put_tariff("flat", FLAT)
    store.register_meter("m-1", tariff="flat")
    # 1 kWh an hour for a week (150 a day with the standing charge); 400 left: 2.66 days
    store.insert_records("m-1", [rec(k + 1, T0 + 1800 * k, 500 * k, credit=400)
                                 for k in range(339)])
    now = T0 + 7 * 86400 + 3600
    store.set_meter_status("m-1", online=True, last_seen=now)
    clock = Clock(now)
    al = Alerting(store, clock=clock)
    al.set_thresholds("", {"low_credit": 0})   # this test is about the forecast alone
    al.evaluate()
    (a,) = al.list()
    assert (a["kind"], a["days"], a["basis"], a["threshold_days"]) == ("runs_out", "2.66", "week", 3)
    assert a["runs_out_at"] == now + 400 * 86400 // 150
    assert a["explanation"] == ("credit 400 runs out in about 2.66 days (2.66 to 2.66) at "
                                "recent use, from 168 h of history")
    # the meter's own threshold of 2 days: no longer a concern
    al.set_thresholds("m-1", {"runs_out_days": 2})
    assert [(x["kind"], ev) for x, ev in al.evaluate()] == [("runs_out", "cleared")]
    store.close()
