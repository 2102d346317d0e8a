"""Integer energy register (no drift, reset-safe) and the A/B slot store, on MicroPython."""
import upy


def test_energy_and_slots(tmp_path):
    (r,) = upy.run_json("energy_check.py", tmp_path)
    assert r["wh"] == 1000                      # 1 kW for an hour, exactly, no drift
    assert 0 < r["res"] < 3600000               # 333.3 W * 7 ms kept as residual
    assert r["reg_deltas"] == [0, 1, 2, 0, 1, 0, 1]  # first read, +1, +2, backwards, +1, jump, +1
    assert r["reg_wh"] == 5 and r["anomalies"] == 3   # backwards, jump, implausible power
    assert r["implausible"] == 0
    assert r["first"] is None
    assert r["after_tear"] == {"n": 1} and r["corrupt"] == 1
    assert r["after_save"] == {"n": 3}
