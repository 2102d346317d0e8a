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
