"""The unix_sim ADC (boards/unix_sim/adc_sim.py) under the unix-port MicroPython with a
128k heap: its waveform carries the load profile (or the <root>/load override) at the
board's calibration, follows the relay, and the analog driver measures it; clipping and
a dead voltage channel are counted and go stale; no per-sample allocation."""
import math

import pytest

import upy

EPOCH = 1767225600   # 2026-01-01T00:00:00Z


def run(tmp_path, scenario, **env):
    return upy.run_json("adc_sim_check.py", scenario, METER_ROOT=tmp_path, METER_EPOCH=EPOCH,
                        **env)


def close(got, truth):
    """Measured vs the simulator's analytic truth. The sim adds about one count of noise,
    so small currents (a 60 W load is ~10 counts RMS) get an absolute allowance of about
    half a count (0.01 A, 2 W at the sim's 0.025 A/count)."""
    v, i, p, s, pf, hz = truth
    assert got["v"] == pytest.approx(v, rel=0.002)
    assert got["i"] == pytest.approx(i, rel=0.003, abs=0.01)
    assert got["p"] == pytest.approx(p, rel=0.005, abs=2)
    assert got["s"] == pytest.approx(s, rel=0.005, abs=3)
    assert got["pf"] == pytest.approx(pf, abs=0.01)
    assert got["hz"] == pytest.approx(hz, abs=0.05)


def test_override_load_is_synthesized_and_measured(tmp_path):
    rows = run(tmp_path, "override")
    assert len(rows) == 5
    for r in rows:
        assert r["fresh"] and r["status"] == "ok"
        truth = r["truth"]
        assert truth[2] == pytest.approx(r["want_w"], rel=0.002)       # P as asked
        assert 220 < truth[0] < 233 and 49.8 < truth[5] < 50.2            # supply
        close(r, truth)
        assert (r["pf"] < 0) == (r["want_pf"] < 0)                       # lead / lag
        # current harmonics lower the true PF slightly below the displacement PF
        assert abs(r["want_pf"]) - 0.02 < abs(r["pf"]) <= abs(r["want_pf"]) + 0.005
    assert rows[-1]["counters"] == {"ok": 5, "no_signal": 0, "clipping": 0, "reverse": 0}


def test_follows_household_profile_over_a_day(tmp_path):
    rows = run(tmp_path, "profile")
    assert len(rows) == 12
    for r in rows:
        assert r["status"] == "ok"
        assert any(r["truth"][2] == pytest.approx(w, rel=0.002) for w in r["want_w"])
        close(r, r["truth"])
    watts = [r["p"] for r in rows]
    assert max(watts) > 2 * min(watts)   # a daily shape, not a constant


def test_no_current_while_relay_open(tmp_path):
    open_, closed = run(tmp_path, "relay_open")
    assert open_["relay"] is False and open_["status"] == "ok"
    assert open_["truth"][1] == 0
    assert open_["i"] == 0 and open_["p"] == 0 and open_["pf"] == 0   # noise is not billed
    assert 220 < open_["v"] < 235
    assert closed["relay"] is True
    assert closed["p"] == pytest.approx(3000, rel=0.005)


def test_clipping_counted_then_stale_then_recovers(tmp_path):
    rows = run(tmp_path, "clipping")
    assert rows[0]["status"] == "ok" and rows[0]["fresh"]
    # bad windows leave the last good numbers alone, marked stale after 3 in a row
    assert [r["status"] for r in rows[1:5]] == ["ok", "ok", "stale", "stale"]
    assert not any(r["fresh"] for r in rows[1:5])
    assert all(r["p"] == rows[0]["p"] for r in rows[1:5])
    assert rows[4]["counters"]["clipping"] == 4
    assert rows[5]["fresh"] and rows[5]["status"] == "ok"
    assert rows[5]["counters"] == {"ok": 2, "no_signal": 0, "clipping": 4, "reverse": 0}


def test_dead_voltage_channel_is_no_signal(tmp_path):
    rows = run(tmp_path, "no_voltage", METER_VOLTS=0)
    assert [r["status"] for r in rows] == ["starting", "starting", "stale", "stale"]
    assert rows[-1]["counters"]["no_signal"] == 4


def test_no_allocation_per_sample(tmp_path):
    (row,) = run(tmp_path, "alloc")
    small, big = row["alloc"]["500"], row["alloc"]["4000"]
    assert small == big, row   # 8x the samples, the same bytes: nothing per sample
    assert big[0] < 6144 and big[1] < 6144   # a few dozen floats per window


def test_esp32_analog_sampler_on_fake_pins():
    """The ESP32 board's timed loop (fake pins carrying 50 Hz) fills the buffers at its
    rate and the analog driver measures what the pins carried at the board's CAL. The
    rate and frequency bounds are loose: the loop's timing is real, on a shared machine."""
    rows = upy.run_json("esp32_analog_check.py", upy.REPO / "boards" / "esp32_analog")
    assert len(rows) == 3
    for r in rows:
        assert r["source"] == "analog" and r["fresh"] and r["status"] == "ok"
        assert abs(r["rate"] - 4000) < 400
        assert r["hz"] == pytest.approx(50, rel=0.1)
        assert r["v"] == pytest.approx(1000 / 2 ** 0.5 * r["cal"]["vcal"], rel=0.002)
        assert r["i"] == pytest.approx(500 / 2 ** 0.5 * r["cal"]["ical"], rel=0.002)
        # lagging 30 degrees; the default phasecal shifts V by the 0.16 sample (40 us)
        # the ESP32 takes between the two reads, which these fake pins do not have
        assert r["pf"] == pytest.approx(math.cos(math.pi / 6 + 0.16 * 2 * math.pi * r["hz"]
                                                 / r["rate"]), abs=0.002)


def test_simulated_hour_heap_is_flat(tmp_path):
    """3600 windows of sampling and measuring under the 128k heap: every window fresh,
    and the heap after a collection is the same at each 10-minute mark."""
    (row,) = run(tmp_path, "soak")
    assert row["fresh"] == 3600 and row["counters"]["ok"] == 3600
    assert max(row["heap"][1:]) - min(row["heap"][1:]) <= 256, row["heap"]
