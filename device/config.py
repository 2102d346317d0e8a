# Load and validate the meter's config.json against the documented defaults in settings.py.
# A bad config never crash-loops the meter: load() returns (cfg, errors) and the firmware
# runs in a safe state (relay open) showing the errors on the console and the web page.
import json

from settings import SETTINGS

_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"


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
