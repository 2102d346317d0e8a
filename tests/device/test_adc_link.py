"""The unix_sim ADC over its link (boards/unix_sim/adc_link.py to host_tools.adc_feed), as
an analog meter uses it: the windows carry adc_sim's synthesis, the same as in-process
(checked against an in-process AdcSim's analytic truth for the same meter second), with
nothing allocated per sample; stale answers are dropped, and a dead feeder reads as no
signal, never a hang, until a new one starts."""
import json
import subprocess

import pytest

import upy
from host_tools import adc_feed
from test_adc_sim import close

EPOCH = 1767225600   # 2026-01-01T00:00:00Z
ENV = {"METER_SEED": 7, "METER_EPOCH": EPOCH}


@pytest.fixture
def feed(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"meter": {"utc_offset_min": 120}}))
    p = adc_feed.spawn(tmp_path, env=ENV)
    yield p
    p.terminate()
    p.wait()


def run(tmp_path, scenario):
    return upy.run_json("adc_link_check.py", scenario, METER_ROOT=tmp_path, timeout=60, **ENV)


def test_override_load_over_the_link(tmp_path, feed):
    rows = run(tmp_path, "override")
    assert len(rows) == 6
    for r in rows[:5]:
        assert r["fresh"] and r["status"] == "ok"
        assert r["truth"][2] == pytest.approx(r["want_w"], rel=0.002)   # the load asked for
        close(r, r["truth"])
        assert (r["pf"] < 0) == (r["want_pf"] < 0)
    off = rows[5]
    assert off["relay"] is False and off["truth"][1] == 0
    assert off["i"] == 0 and off["p"] == 0 and 220 < off["v"] < 235
    assert off["counters"] == {"ok": 6, "no_signal": 0, "clipping": 0, "reverse": 0}


def test_household_profile_and_local_time_over_the_link(tmp_path, feed):
    rows = run(tmp_path, "profile")
    assert len(rows) == 8
    for r in rows:
        assert r["status"] == "ok"
        close(r, r["truth"])   # same seed and utc offset in the feeder as in-process
    watts = [r["p"] for r in rows]
    assert max(watts) > 2 * min(watts)


def test_no_allocation_per_sample(tmp_path, feed):
    (row,) = run(tmp_path, "alloc")
    small, big = row["alloc"]["500"], row["alloc"]["4000"]
    assert small[1:] == big[1:] == [4000, 4000]   # both windows answered at the rate
    assert small[0] == big[0] <= 256, row   # 8x the samples, the same bytes: the clock's


def test_stale_answers_are_dropped(tmp_path, feed):
    rows = run(tmp_path, "stale")
    assert len(rows) == 12
    for r in rows:   # a window is either right or no signal, never another window's data
        if r["fresh"]:
            assert r["p"] == pytest.approx(2000, rel=0.01)
    assert rows[-1]["fresh"]
    c = rows[-1]["counters"]
    assert c["ok"] + c["no_signal"] == 12 and c["clipping"] == 0 and c["ok"] >= 6


def test_dead_feeder_is_no_signal_then_recovers(tmp_path, feed):
    p = subprocess.Popen(upy.cmd() + [str(upy.REPO / "tests/device/upy/adc_link_check.py"),
                                      "dead"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=upy.env(METER_ROOT=tmp_path, **ENV), cwd=str(upy.REPO))
    new = None
    try:
        def step():
            p.stdin.write("\n")
            p.stdin.flush()
            return json.loads(p.stdout.readline())
        up = step()
        feed.terminate()
        feed.wait()
        down = [step(), step()]
        new = adc_feed.spawn(tmp_path, env=ENV)
        again = step()
        p.stdin.close()
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
        if new is not None:
            new.terminate()
            new.wait()
    assert up["fresh"] and up["p"] == pytest.approx(1000, rel=0.01)
    assert not any(d["fresh"] for d in down)
    assert down[-1]["counters"]["no_signal"] == 2
    assert again["fresh"] and again["p"] == pytest.approx(1000, rel=0.01)
