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
    out = upy.run("import json; from board import Board; from meter import Meter; "
                  "m = Meter(Board()); print(json.dumps([m.errors, m.board.relay_closed(), "
                  "m.src is None]))", METER_ROOT=tmp_path)
    errors, closed, no_src = json.loads(out.strip().splitlines()[-1])
    assert errors == ["analog.vcal: must be 0..10 (got -1.0)"]
    assert closed is False and no_src is True
