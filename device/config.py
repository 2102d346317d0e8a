# The meter's config.json on flash: reading it at boot and writing a change, both through
# prepay/settings.py's apply() (the one settings table and the one complete validation that
# boot, the admin page, MQTT and provisioning share).
#
# A bad config never crash-loops the meter: load() returns (cfg, errors) and the firmware
# runs in a safe state (relay open) showing the errors on the console and the web page.
# A config that validated (at a clean boot, or when written by change()) is also kept as
# config.good.json: boot() falls back to it when config.json is invalid, so a bad file on
# the flash does not cut the consumer's supply (docs/config.md "Last known good").
import json
import os

from lazy import forget
from prepay.settings import apply, validate, text

FILE = "/config.json"
GOOD = "/config.good.json"


def unload():
    """Drop this module and what checking a config loaded (the settings table, the problems'
    English, the tariff parser): the meter keeps none of it between config changes."""
    for name in ("config", "prepay.settings", "prepay.problems", "prepay.tariff_parse",
                 "prepay.civil"):
        forget(name)


def _read(path):
    """(doc, error) of a JSON file."""
    try:
        with open(path) as f:
            return json.load(f), None
    except OSError:
        return None, ("missing",)
    except ValueError as e:
        return None, ("json", str(e))


def load(root, say=text):
    """Read <root>/config.json. Never raises for bad content; returns (cfg, errors), each
    error made by `say` (prepay.settings: text or problem)."""
    doc, why = _read(root + FILE)
    if why:
        return validate({})[0], [say("config.json", *why)]
    return apply({}, doc, "", say)[1:]


def boot(root, say=text):
    """The config the meter boots on: (cfg, errors, fallback). With config.json valid it is
    also kept as the last known good copy. With it invalid and the good copy valid, the
    meter boots on the good copy and fallback lists config.json's errors (else [])."""
    cfg, errors = load(root, say)
    if not errors:
        _keep_good(root)
        return cfg, errors, []
    doc, why = _read(root + GOOD)
    if why is None:
        good, gerr = apply({}, doc)[1:]
        if not gerr:
            return good, [], errors
    return cfg, errors, []


def _keep_good(root):
    """Copy config.json to config.good.json when they differ (atomically: temp + rename)."""
    try:
        with open(root + FILE, "rb") as f:
            new = f.read()
    except OSError:
        return
    try:
        with open(root + GOOD, "rb") as f:
            if f.read() == new:
                return
    except OSError:
        pass
    _write(root + GOOD, new)


def _write(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


def change(root, changes, who, say=text):
    """Apply a nested partial config for `who` (prepay.settings: INSTALLER, CONSUMER, PIN,
    MQTT) to config.json and write it, and keep it as the last known good copy too, if
    prepay.settings.apply accepts it. -> errors ([] = written; else nothing was written)."""
    doc, _, errors = apply(read_doc(root), changes, who, say)
    if errors:
        return errors
    data = json.dumps(doc).encode()
    try:
        _write(root + FILE, data)
        _write(root + GOOD, data)
    except OSError as e:
        return [say("config.json", "write", repr(e))]
    return []


def read_doc(root):
    """The nested config a change is merged into: config.json as stored, or the last known
    good copy when config.json is not a JSON object; {} when neither is."""
    for name in (FILE, GOOD):
        doc = _read(root + name)[0]
        if isinstance(doc, dict):
            return doc
    return {}
