"""Alert state as retained MQTT (gateway/ha_alerts.py) through a real mosquitto: a problem
binary sensor per meter, ON with the open alerts as attributes, OFF when they clear, and the
topics cleared when the meter is removed."""
import json

from gateway.alerting import Alerting
from gateway.service import Publisher
from gateway.ha_alerts import AlertState
from gateway.store import Store
from test_alerting import T0, Clock
from test_api import rec
from test_ha import retained
from waits import wait_until


def test_retained_alert_state(broker_factory, tmp_path, db):
    b = broker_factory(users={"gateway": "gw-pw", "ha": "ha-pw"})
    store = Store(db("h.db"))
    for m, credit in (("m-1", 1000), ("m-2", 90000)):
        store.register_meter(m)
        store.insert_records(m, [rec(1, 0, T0, credit=credit)])
        store.set_meter_status(m, online=True, last_seen=T0)
    clock = Clock(T0 + 10)
    al = Alerting(store, clock=clock)
    al.evaluate()
    pub = Publisher(b.host, b.port, "gateway", "gw-pw", "gw-alert-pub").start()
    try:
        assert pub.connected.wait(10)
        st = AlertState(store, al, pub.retained)
        st.sync()
        assert st.published == 4
        st.sync()
        assert st.published == 4                      # nothing changed: nothing published

        def state(meter):
            got = retained(b, "homeassistant/binary_sensor/#")
            key = "homeassistant/binary_sensor/pm_%s/alert/state" % meter.replace("-", "_")
            return json.loads(got[key]) if got.get(key) else None

        s1 = wait_until(lambda: state("m-1"))
        assert s1["state"] == "ON" and [(a["kind"], a["explanation"]) for a in s1["alerts"]] == [
            ("low_credit", "credit 1000 below 5000")]
        assert state("m-2") == {"state": "OFF", "alerts": []}
        cfg = json.loads(retained(b, "homeassistant/binary_sensor/pm_m_1/alert/config")[
            "homeassistant/binary_sensor/pm_m_1/alert/config"])
        assert (cfg["device_class"], cfg["state_topic"], cfg["device"]["identifiers"]) == (
            "problem", "homeassistant/binary_sensor/pm_m_1/alert/state", ["pm_m_1"])
        al.set_thresholds("", {"low_credit": 500})
        al.evaluate()
        st.sync()
        assert st.published == 5                      # m-1's state only
        assert wait_until(lambda: (state("m-1") or {}).get("state") == "OFF")
        store.remove_meter("m-2")
        st.sync()
        assert wait_until(lambda: not any("pm_m_2" in t for t in retained(
            b, "homeassistant/binary_sensor/#")))
    finally:
        pub.stop()
        store.close()
