"""Home Assistant MQTT discovery: each registered meter appears as a device whose sensors read
the meter's own telemetry topic (docs/protocol.md `tele`), with the device and state classes
the Energy dashboard needs (energy: total_increasing in Wh). Configs are retained, so Home
Assistant finds them whenever it connects; a removed meter's configs are cleared (empty
retained payloads). The gateway's MQTT user needs write access to `homeassistant/#`."""
import json
import threading

from prepay import protocol

# (object id, name, tele key, device_class, unit, state_class)
SENSORS = (
    ("energy", "Energy", "wh", "energy", "Wh", "total_increasing"),
    ("power", "Power", "p", "power", "W", "measurement"),
    ("voltage", "Voltage", "v", "voltage", "V", "measurement"),
    ("current", "Current", "i", "current", "A", "measurement"),
    ("frequency", "Frequency", "hz", "frequency", "Hz", "measurement"),
    ("power_factor", "Power factor", "pf", "power_factor", "%", "measurement"),
    ("credit", "Credit", "credit", "monetary", None, "total"),   # unit: the meter's currency
)


def node(meter_id):
    return "pm_" + meter_id.replace("-", "_")


def config_topic(meter_id, obj, discovery_prefix="homeassistant"):
    return "%s/sensor/%s/%s/config" % (discovery_prefix, node(meter_id), obj)


def messages(meter, prefix="pm", discovery_prefix="homeassistant"):
    """[(topic, payload bytes)] of the retained discovery configs of one meter (a store dict)."""
    mid = meter["id"]
    minor = int(meter.get("minor_per_major", 100) or 100)
    currency = str(meter.get("currency", "INR"))
    device = {"identifiers": [node(mid)], "name": meter.get("name") or "Meter " + mid,
              "manufacturer": "prepaid-meter", "model": str(meter.get("board") or "meter")}
    if meter.get("fw"):
        device["sw_version"] = meter["fw"]
    templates = {"power_factor": "{{ (value_json.pf * 100) | round(1) }}",  # HA wants %
                 "credit": "{{ (value_json.credit / %d) | round(2) }}" % minor}  # major units
    out = []
    for obj, name, key, dclass, unit, sclass in SENSORS:
        cfg = {"name": name, "unique_id": "%s_%s" % (node(mid), obj),
               "object_id": "%s_%s" % (node(mid), obj),
               "state_topic": protocol.topic(prefix, mid, protocol.TELE),
               "value_template": templates.get(obj, "{{ value_json.%s }}" % key),
               "availability_topic": protocol.topic(prefix, mid, protocol.LWT),
               "payload_available": protocol.ONLINE.decode(),
               "payload_not_available": protocol.OFFLINE.decode(),
               "device_class": dclass, "state_class": sclass, "device": device,
               "unit_of_measurement": unit or currency}
        if obj == "energy":
            cfg["suggested_display_precision"] = 0
        out.append((config_topic(mid, obj, discovery_prefix), json.dumps(cfg, sort_keys=True).encode()))
    return out


def removal(meter_id, discovery_prefix="homeassistant"):
    return [(config_topic(meter_id, s[0], discovery_prefix), b"") for s in SENSORS]


class Discovery:
    """Keeps the retained configs in step with the registered meters. `publish(topic,
    payload)` is a callable publishing QoS 1 retained (the service passes its MQTT client's)."""

    def __init__(self, store, publish, prefix="pm", discovery_prefix="homeassistant"):
        self.store = store
        self.publish = publish
        self.prefix = prefix
        self.discovery_prefix = discovery_prefix
        self.sent = {}        # meter id -> payloads last published
        self.published = 0
        self._lock = threading.Lock()

    def sync(self, force=False):
        """Publish configs of new or changed meters and clear removed ones."""
        with self._lock:
            if force:  # also clear meters removed while the gateway was not running
                self.sent = {mid: None for mid, in self.store.reader().execute(
                    "SELECT id FROM meters WHERE removed IS NOT NULL")}
            now = {}
            for m in self.store.meters():
                msgs = messages(m, self.prefix, self.discovery_prefix)
                now[m["id"]] = msgs
                if self.sent.get(m["id"]) != msgs:
                    for t, p in msgs:
                        self.publish(t, p)
                        self.published += 1
            for mid in set(self.sent) - set(now):
                for t, p in removal(mid, self.discovery_prefix):
                    self.publish(t, p)
                    self.published += 1
            self.sent = now
