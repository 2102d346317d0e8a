"""Alert state over MQTT, retained, for Home Assistant and any other subscriber.

Each registered meter gets a `problem` binary sensor on its Home Assistant device (the one
gateway/ha.py announces): ON while the meter has open alerts, with the alerts as attributes
(kind, severity, explanation, raised, acknowledged). The state is retained under the
discovery prefix, which the gateway's MQTT user may already write (host_tools/provision.py),
so a subscriber that connects later reads the current state at once:

    homeassistant/binary_sensor/pm_m_1/alert/config   the discovery config
    homeassistant/binary_sensor/pm_m_1/alert/state    {"state": "ON", "alerts": [...]}
"""
import json
import threading

from gateway.ha import node


def base(meter_id, discovery_prefix="homeassistant"):
    return "%s/binary_sensor/%s/alert" % (discovery_prefix, node(meter_id))


def messages(meter_id, alerts, discovery_prefix="homeassistant"):
    """[(topic, payload)] of one meter: its config and its state from its open alerts."""
    b = base(meter_id, discovery_prefix)
    cfg = {"name": "Alert", "unique_id": node(meter_id) + "_alert",
           "object_id": node(meter_id) + "_alert", "device_class": "problem",
           "state_topic": b + "/state", "value_template": "{{ value_json.state }}",
           "json_attributes_topic": b + "/state",
           "json_attributes_template": "{{ {'alerts': value_json.alerts} | tojson }}",
           "device": {"identifiers": [node(meter_id)]}}
    state = {"state": "ON" if alerts else "OFF", "alerts": [
        {k: a[k] for k in ("id", "kind", "severity", "explanation", "raised", "acknowledged")}
        for a in alerts]}
    return [(b + "/config", json.dumps(cfg, sort_keys=True).encode()),
            (b + "/state", json.dumps(state, sort_keys=True).encode())]


class AlertState:
    """Keeps the retained alert state in step with the open alerts. `publish(topic, payload)`
    publishes QoS 1 retained (the service's Publisher.retained)."""

    def __init__(self, store, alerting, publish, discovery_prefix="homeassistant"):
        self.store, self.alerting, self.publish = store, alerting, publish
        self.discovery_prefix = discovery_prefix
        self.sent = {}   # meter id -> messages last published
        self.published = 0
        self._lock = threading.Lock()

    def sync(self, force=False):
        """Publish what changed; clear the topics of meters no longer registered."""
        with self._lock:
            if force:
                self.sent = {}
            by_meter = {}
            for a in self.alerting.list("open", limit=10 ** 6):
                if a["meter"] is not None:
                    by_meter.setdefault(a["meter"], []).append(a)
            now = {}
            for m in self.store.meters():
                msgs = messages(m["id"], sorted(by_meter.get(m["id"], []), key=lambda a: a["id"]),
                                self.discovery_prefix)
                now[m["id"]] = msgs
                for (t, p), old in zip(msgs, self.sent.get(m["id"]) or [None] * len(msgs)):
                    if old != (t, p):
                        self.publish(t, p)
                        self.published += 1
            for mid in set(self.sent) - set(now):
                for t, _ in self.sent[mid]:
                    self.publish(t, b"")   # an empty retained payload removes the topic
                    self.published += 1
            self.sent = now
