"""Config validation on the unix-port MicroPython: bad configs give clear errors, never a crash."""
import json

import pytest
import upy

CASES = [
    ({"meter": {"id": "m-1"}}, []),
    ({"meter": {"id": "m-1"}, "mqtt": {"port": "1883"}}, ["mqtt.port: expected int, got str"]),
    ({"meter": {"id": "m-1"}, "mqtt": {"bogus": 1}}, ["mqtt.bogus: unknown setting"]),
    ({"meter": {"id": "Bad ID"}}, ["meter.id: must be 1-32 of [a-z0-9-]"]),
    ({}, ["meter.id: must be 1-32 of [a-z0-9-]"]),
    ({"meter": {"id": "m-1"}, "measure": {"source": "x"}}, ["measure.source: must be 'pzem' or 'analog'"]),
    ([1, 2], ["config: top level must be an object", "meter.id: must be 1-32 of [a-z0-9-]"]),
    # ranges: a bad calibration or port is an error at boot (relay open), not a crash
    ({"meter": {"id": "m-1"}, "analog": {"vcal": -0.3}}, ["analog.vcal: must be 0..10 (got -0.3)"]),
    ({"meter": {"id": "m-1"}, "analog": {"cycles": 0}, "mqtt": {"port": 70000}},
     ["analog.cycles: must be 1..100 (got 0)", "mqtt.port: must be 1..65535 (got 70000)"]),
    ({"meter": {"id": "m-1"}, "pzem": {"address": 248}, "mqtt": {"batch": 256}},
     ["pzem.address: must be 1..247 (got 248)", "mqtt.batch: must be 1..255 (got 256)"]),
    # web.hosts: the extra names the page answers to (docs/web.md "Cross-site requests")
    ({"meter": {"id": "m-1"}, "web": {"hosts": ["meter.example.org", "203.0.113.7"]}}, []),
    ({"meter": {"id": "m-1"}, "web": {"hosts": "meter.example.org"}},
     ["web.hosts: expected list, got str"]),
    ({"meter": {"id": "m-1"}, "web": {"hosts": ["Meter.Example.org"]}},
     ["web.hosts: up to 8 names, each 1-64 of [a-z0-9.-]"]),
    ({"meter": {"id": "m-1"}, "web": {"hosts": ["meter.example.org:8080"]}},
     ["web.hosts: up to 8 names, each 1-64 of [a-z0-9.-]"]),
    ({"meter": {"id": "m-1"}, "web": {"hosts": [""]}},
     ["web.hosts: up to 8 names, each 1-64 of [a-z0-9.-]"]),
    ({"meter": {"id": "m-1"}, "web": {"hosts": [7]}},
     ["web.hosts: up to 8 names, each 1-64 of [a-z0-9.-]"]),
    ({"meter": {"id": "m-1"}, "web": {"hosts": ["a" * 65]}},
     ["web.hosts: up to 8 names, each 1-64 of [a-z0-9.-]"]),
    ({"meter": {"id": "m-1"}, "web": {"hosts": ["h%d" % k for k in range(9)]}},
     ["web.hosts: up to 8 names, each 1-64 of [a-z0-9.-]"]),
]


def test_validate_under_micropython():
    got = upy.run_json("config_check.py", *[json.dumps(c) for c, _ in CASES])
    assert [g["errors"] for g in got] == [e for _, e in CASES]
    assert got[0]["user"] == "m-1" and got[0]["port"] == 1883


@pytest.mark.parametrize("content,needle", [(None, "missing"), ("{not json", "not valid JSON")])
def test_load_bad_file(tmp_path, content, needle):
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    out = upy.run("import config, json; c, e = config.load(%r); print(json.dumps(e))" % str(tmp_path))
    assert needle in out


def test_bad_calibration_boots_safe(tmp_path):
    """A negative vcal used to raise inside Analog at boot; now the meter boots with the
    error listed and the relay open."""
    (tmp_path / "config.json").write_text(json.dumps(
        {"meter": {"id": "m-1"}, "measure": {"source": "analog"}, "analog": {"vcal": -1.0},
         "mqtt": {"host": ""}, "web": {"port": 0}}))
    out = upy.run("import json; from board import Board; from meter import boot; "
                  "m = boot(Board()); from prepay.settings import english; "
                  "print(json.dumps([[english(e) for e in m.errors], m.board.relay_closed(), "
                  "m.src is None, m.errors]))", METER_ROOT=tmp_path)
    errors, closed, no_src, problems = json.loads(out.strip().splitlines()[-1])
    assert errors == ["analog.vcal: must be 0..10 (got -1.0)"]
    # the meter keeps the problem as data, which its page says in the consumer's language
    assert problems == [["analog.vcal", "range", [0, 10, -1.0]]]
    assert closed is False and no_src is True


# Issue 11 (b): values the MQTT config command (and the admin page, with other limits) once
# accepted, although boot then refused them and cut the supply.
BAD_UPDATES = [
    ({"credit": {"quantum_s": 0}}, ["credit.quantum_s: must be 1..3600 (got 0)"]),
    ({"credit": {"low_days": -5}}, ["credit.low_days: must be 0..365 (got -5)"]),
    ({"power": {"hold_s": 0}}, ["power.hold_s: must be 1..86400 (got 0)"]),
    ({"power": {"retry_s": 2}}, ["power.retry_s: must be 5..86400 (got 2)"]),
    ({"tariff": {"rates": {"a": "-1"}}, "credit": {"quantum_s": 0}},
     ["credit.quantum_s: must be 1..3600 (got 0)",
      "tariff.rates.a: '-1' is not a decimal with at most 3 decimals",
      "tariff.default: must name one of the rates ()"]),
    ({"credit": {"friendly": [{"days": ["funday"]}]}}, ["credit.friendly[0].days"]),
    ({"token": {"digits": 10}}, ["token.digits: must be 9 (standard) or 12 (extended)"]),
    ({"mqtt": {"prefix": "a/b"}}, ["mqtt.prefix: 1-16 characters without / # +"]),
    ({"wifi": {"password": "short"}},
     ["wifi.password: 8 to 64 characters (or empty for an open network)"]),
    # issue 18: the page's language and the consumer's texts
    ({"web": {"lang": "english"}}, ["web.lang: must be 0 to 5 characters (got 7)"]),
    ({"consumer": {"buy": "x" * 161, "name": 5}},
     ["consumer.name: expected str, got int", "consumer.buy: must be 0 to 160 characters"]),
]
GOOD = {"meter": {"id": "m-1"}, "mqtt": {"host": "", "tele_s": 30}, "web": {"port": 0},
        "tariff": {"rates": {"std": 6}}}


@pytest.mark.parametrize("upd,errors", BAD_UPDATES)
def test_save_refuses_what_boot_refuses_and_writes_nothing(tmp_path, upd, errors):
    text = json.dumps(GOOD)
    (tmp_path / "config.json").write_text(text)
    r = upy.run_json("config_paths.py", tmp_path, "save", json.dumps(upd))[0]
    assert all(any(e.startswith(x) for e in r["errors"]) for x in errors), r["errors"]
    assert len(r["errors"]) == len(errors)
    assert r["file"] == text and r["good"] is None           # nothing written
    # the host tools run the same code (prepay/settings.py) under CPython
    from prepay import settings
    assert settings.apply(json.loads(text), upd)[2] == r["errors"]


def test_save_writes_config_and_last_known_good(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(GOOD))
    r = upy.run_json("config_paths.py", tmp_path, "save", '{"mqtt": {"tele_s": 5}}')[0]
    assert r["errors"] == [] and r["file"] == r["good"]
    assert json.loads(r["file"])["mqtt"] == {"host": "", "tele_s": 5}


def test_boot_falls_back_to_last_known_good(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(GOOD))
    r = upy.run_json("config_paths.py", tmp_path, "boot")[0]
    assert r["errors"] == r["fallback"] == [] and r["tele_s"] == 30
    assert json.loads(r["good"]) == GOOD                      # kept after a clean boot
    bad = dict(GOOD, credit={"quantum_s": 0})
    (tmp_path / "config.json").write_text(json.dumps(bad))
    r = upy.run_json("config_paths.py", tmp_path, "boot")[0]
    assert r["errors"] == [] and r["tele_s"] == 30
    assert r["fallback"] == ["credit.quantum_s: must be 1..3600 (got 0)"]
    assert json.loads(r["good"]) == GOOD                      # the bad file is never kept
    m = upy.run_json("config_paths.py", tmp_path, "meter", METER_ROOT=tmp_path, heap="1m")[0]
    assert m["errors"] == [] and m["credit"] and m["journal"]
    assert ["config_fallback", 1] in m["events"]
    (tmp_path / "config.good.json").write_text("{broken")     # no good copy either
    r = upy.run_json("config_paths.py", tmp_path, "boot")[0]
    assert r["errors"] == ["credit.quantum_s: must be 1..3600 (got 0)"] and r["fallback"] == []


def test_config_error_state_still_syncs(tmp_path):
    """Issue 11 (b): a meter in a config-error state used to start no MQTT at all, so the
    utility could not repair it. Sync now runs when its own settings are sound."""
    (tmp_path / "config.json").write_text(json.dumps(dict(
        GOOD, mqtt={"host": "127.0.0.1", "port": 1}, power={"hold_s": 0})))
    m = upy.run_json("config_paths.py", tmp_path, "meter", METER_ROOT=tmp_path, heap="1m")[0]
    assert m["errors"] == ["power.hold_s: must be 1..86400 (got 0)"]
    assert m["problems"] == [["power.hold_s", "range", [1, 86400, 0]]]
    assert m["relay"] is False and not m["credit"] and m["sync"] and m["journal"]
    assert ["config_error", 1] in m["events"]
    # ... but not when the MQTT settings themselves are broken
    (tmp_path / "config.json").write_text(json.dumps(dict(
        GOOD, mqtt={"host": "127.0.0.1", "port": 0})))
    m = upy.run_json("config_paths.py", tmp_path, "meter", METER_ROOT=tmp_path, heap="1m")[0]
    assert m["errors"] == ["mqtt.port: must be 1..65535 (got 0)"] and not m["sync"]


@pytest.mark.parametrize("upd,errors", BAD_UPDATES[:5])
def test_host_tools_refuse_what_the_meter_refuses(tmp_path, upd, errors):
    """Provisioning and flashing run the firmware's own apply() (prepay/settings.py)."""
    from host_tools.flash import FlashError, check_config
    from host_tools.provision import Provisioner
    with pytest.raises(ValueError) as e:
        Provisioner(tmp_path / "prov").add_meter("m-1", tmp_path / "m-1", "127.0.0.1", 1883,
                                                 config=upd)
    assert errors[0] in str(e.value)
    assert not (tmp_path / "m-1" / "config.json").exists()
    path = tmp_path / "c.json"
    path.write_text(json.dumps(dict(GOOD, **upd)))
    with pytest.raises(FlashError) as e:
        check_config(path)
    assert errors[0] in str(e.value)
