"""The fleet simulator at small scale, for correctness (the bench runs 100,000 meters:
tests/bench/bench_fleetsim.py): a real mosquitto and `python -m gateway` process take live
records and offline backlogs from 300 simulated meters; every record is stored exactly once,
the aggregated energy is exact, every meter's ack reaches its last record, and the figures
the bench prints are all there."""
import subprocess
import sys

from fleet_at_scale import simulate
from gateway_process import REPO
from host_tools import fleetsim


def test_fleet_of_300_stored_exactly_and_acked(tmp_path):
    r = simulate(tmp_path, meters=300, seconds=8, speed=30, outage=0.1, backlog_min=120)
    # 4 simulated minutes: every meter made 4 live records (5 if its second came round again)
    assert 300 * 4 + 30 * 120 <= r["records"] <= 300 * 5 + 30 * 120
    assert r["backlog_records"] == 30 * 120
    assert r["unacked"] == 0 and r["acked"] == r["records"] == r["db_rows"]
    assert r["db_meters_with_rows"] == 300
    assert r["db_wh"] == r["energy_wh"]
    assert r["lag_samples"] > 0 and 0 < r["lag_p50_s"] <= r["lag_p95_s"] <= r["lag_p99_s"] \
        <= r["lag_max_s"]
    assert 0 < r["calm_lag_samples"] < r["lag_samples"]
    assert 0 < r["calm_lag_p50_s"] <= r["calm_lag_p95_s"] <= r["calm_lag_max_s"]
    assert r["backlog_caught_up_s"] is not None
    assert r["acked_per_s"] > 0
    assert 0 < r["record_bytes_per_meter_day"] <= r["bytes_per_meter_day"]
    lines = fleetsim.report(r)
    assert lines[1].startswith("sustained: ") and "bytes per meter-day" in lines[-1]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "host_tools.fleetsim", *args], cwd=str(REPO),
                          capture_output=True, text=True, timeout=60,
                          env=env if env is not None else {"FLEETSIM_MQTT_PASSWORD": "pw"})


def test_bad_arguments_are_refused_with_a_reason():
    for args, reason in ((["--meters", "0"], "--meters must be at least 1"),
                         (["--speed", "0"], "--speed must be at least 0.01"),
                         (["--outage", "1.5"], "--outage is a fraction"),
                         (["--batch", "256"], "--batch <= 255"),
                         (["--register"], "--register needs --db")):
        p = run_cli(*args)
        assert p.returncode == 2 and reason in p.stderr, (args, p.stderr)
    p = run_cli(env={})
    assert p.returncode == 2 and "FLEETSIM_MQTT_PASSWORD" in p.stderr
