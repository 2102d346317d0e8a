"""The firmware's own config validator (device/config.py with device/settings.py), loaded on
CPython under private names so host tools validate a meter's config.json with exactly the
rules the meter applies at boot, and never shadow another `config`/`settings` module."""
import importlib.util
import sys
from pathlib import Path

DEVICE = Path(__file__).resolve().parent.parent / "device"
_CACHE = {}


def _load(name, alias):
    spec = importlib.util.spec_from_file_location(alias, DEVICE / (name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def config():
    """device/config.py as a module: config().validate(doc) -> (cfg dict, errors)."""
    if "config" not in _CACHE:
        saved = sys.modules.get("settings")
        sys.modules["settings"] = _load("settings", "_device_settings")  # config imports it
        try:
            _CACHE["config"] = _load("config", "_device_config")
        finally:
            if saved is None:
                del sys.modules["settings"]
            else:
                sys.modules["settings"] = saved
    return _CACHE["config"]
