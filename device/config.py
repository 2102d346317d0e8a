# Load and validate the meter's config.json against the documented defaults in settings.py.
# A bad config never crash-loops the meter: load() returns (cfg, errors) and the firmware
# runs in a safe state (relay open) showing the errors on the console and the web page.
import json

from settings import SETTINGS

_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
# (key, lowest, highest) for the numeric settings outside credit, power and token (those
# are checked by credit/conf.py). 0 means "board default" for the analog calibration.
_RANGES = (
    ("meter.utc_offset_min", -720, 840), ("meter.minor_per_major", 1, 10000),
    ("measure.window_ms", 100, 3600000), ("measure.stale_after", 1, 1000),
    ("measure.max_power_w", 1, 1000000), ("pzem.address", 1, 247),
    ("pzem.timeout_ms", 10, 10000), ("analog.vcal", 0, 10), ("analog.ical", 0, 10),
    ("analog.phasecal", -10, 10), ("analog.icreep", 0, 100), ("analog.cycles", 1, 100),
    ("journal.interval_s", 1, 86400), ("journal.segments", 2, 256),
    ("journal.segment_records", 10, 100000), ("mqtt.port", 1, 65535),
    ("mqtt.keepalive_s", 1, 65535), ("mqtt.tele_s", 1, 86400), ("mqtt.batch", 1, 255),
    ("mqtt.timeout_ms", 1, 60000), ("web.port", 0, 65535),
)


def section(cfg, name):
    """{"host": .., "port": ..} for section "mqtt" of a loaded config."""
    p = name + "."
    return {k[len(p):]: v for k, v in cfg.items() if k.startswith(p)}


def defaults():
    return {k: d for k, d in SETTINGS}


def _flatten(doc, errors):
    flat = {}
    if not isinstance(doc, dict):
        errors.append("config: top level must be an object")
        return flat
    for sec, body in doc.items():
        if isinstance(body, dict) and sec != "tariff":
            for k, v in body.items():
                flat[sec + "." + k] = v
        else:
            flat[sec] = body
    return flat


def validate(doc):
    """Return (cfg, errors): cfg is the flat dict of every setting (cfg["mqtt.host"]), a
    plain dict so nothing of this module stays alive once the meter drops it after boot;
    errors is a list of human-readable strings. Unknown keys are errors, not ignored."""
    errors = []
    values = defaults()
    for key, v in _flatten(doc, errors).items():
        if key not in values:
            errors.append("%s: unknown setting" % key)
            continue
        d = values[key]
        ok = type(v) is type(d) or (type(d) is float and type(v) is int)
        if not ok:
            errors.append("%s: expected %s, got %s" % (key, type(d).__name__, type(v).__name__))
            continue
        values[key] = v
    for key, lo, hi in _RANGES:
        v = values[key]
        if not lo <= v <= hi:
            errors.append("%s: must be %s..%s (got %s)" % (key, lo, hi, v))
    mid = values["meter.id"]
    if not mid or len(mid) > 32 or any(c not in _ID_CHARS for c in mid):
        errors.append("meter.id: must be 1-32 of [a-z0-9-]")
    if values["measure.source"] not in ("", "pzem", "analog"):
        errors.append("measure.source: must be 'pzem' or 'analog'")
    if not values["mqtt.user"]:
        values["mqtt.user"] = mid
    return values, errors


def load(root):
    """Read <root>/config.json. Never raises for bad content; returns (cfg, errors)."""
    try:
        with open(root + "/config.json") as f:
            doc = json.load(f)
    except OSError:
        return validate({})[0], ["config.json: missing"]
    except ValueError as e:
        return validate({})[0], ["config.json: not valid JSON (%s)" % e]
    return validate(doc)
