"""Home Assistant MQTT discovery through a real mosquitto: retained configs with the classes
the Energy dashboard needs, and clearing when a meter is removed."""
import json
import threading

import paho.mqtt.client as mqtt

from gateway import ha
from gateway.service import Publisher
from gateway.store import Store
from waits import subscribe, wait_until


def retained(b, topic_filter):
    """Everything retained under topic_filter, as a fresh Home Assistant would see it: the
    broker queues a subscription's retained messages before it handles the probe's next
    publish, so once that marker comes back every retained message has arrived."""
    got, marker, done = {}, "tests/ha-probe/done", threading.Event()

    def on_message(cl, u, m):
        if m.topic == marker:
            done.set()
        elif m.retain:
            got[m.topic] = m.payload
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-probe")
    c.username_pw_set("ha", "ha-pw")
    c.on_message = on_message
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        subscribe(c, [topic_filter, marker])
        c.publish(marker, b"", qos=1)
        assert done.wait(10), "the probe's marker never came back"
    finally:
        c.disconnect()
        c.loop_stop()
    return got


def test_discovery_configs(broker_factory, tmp_path, db):  # noqa: F811
    b = broker_factory(users={"gateway": "gw-pw", "ha": "ha-pw"})
    store = Store(db("g.db"))
    store.register_meter("m-1", name="Flat 1", currency="INR", minor_per_major=100)
    store.register_meter("m-2")
    store.set_meter_status("m-1", fw="1.4.0")
    pub = Publisher(b.host, b.port, "gateway", "gw-pw", "gw-test-pub").start()
    assert pub.connected.wait(10)
    disc = ha.Discovery(store, pub.retained)
    disc.sync(force=True)
    got = wait_until(lambda: (lambda g: g if len(g) == 14 else None)(
        retained(b, "homeassistant/sensor/#")))
    assert len(got) == 14 and disc.published == 14
    cfg = {t.split("/")[3]: json.loads(p) for t, p in got.items() if "/pm_m_1/" in t}
    e = cfg["energy"]
    assert (e["device_class"], e["state_class"], e["unit_of_measurement"]) == \
        ("energy", "total_increasing", "Wh")
    assert e["state_topic"] == "pm/m-1/tele" and e["value_template"] == "{{ value_json.wh }}"
    assert e["availability_topic"] == "pm/m-1/LWT" and e["payload_available"] == "Online"
    assert e["device"]["sw_version"] == "1.4.0" and e["device"]["name"] == "Flat 1"
    assert e["unique_id"] == "pm_m_1_energy"
    classes = {k: (v["device_class"], v["state_class"], v["unit_of_measurement"])
               for k, v in cfg.items()}
    assert classes == {"energy": ("energy", "total_increasing", "Wh"),
                       "power": ("power", "measurement", "W"),
                       "voltage": ("voltage", "measurement", "V"),
                       "current": ("current", "measurement", "A"),
                       "frequency": ("frequency", "measurement", "Hz"),
                       "power_factor": ("power_factor", "measurement", "%"),
                       "credit": ("monetary", "total", "INR")}
    assert cfg["credit"]["value_template"] == "{{ (value_json.credit / 100) | round(2) }}"

    disc.sync()                       # nothing changed: nothing published again
    assert disc.published == 14
    store.remove_meter("m-2")
    disc.sync()
    got = wait_until(lambda: (lambda g: g if len(g) == 7 else None)(
        retained(b, "homeassistant/sensor/#")))
    assert sorted({t.split("/")[2] for t in got}) == ["pm_m_1"]
    pub.stop()
    store.close()
