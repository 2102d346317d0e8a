"""Power quality on the meter (device/measure/quality.py) under the real unix-port
MicroPython with a capped heap: limits with hysteresis and a minimum duration, an event with
start, end and worst value, per-day counts, and no allocation per window."""
import json

import pytest

import upy

T0 = 1717200000 - 1717200000 % 86400 + 3600      # 2024-06-01 01:00 UTC
OK = None


def steps(v, n, dt=1000, hz=50, i=5, st=OK):
    return [[v, hz, i, dt, st]] * n


SCENARIOS = {
    # 1.5 s under 195.5 V (sag needs 1 s); back to 199 V, past 195.5 + 2.0: ends
    "sag": dict(readings=steps(230, 1) + steps(190, 1, 500) + steps(185.2, 1, 500)
                + steps(199, 1, 500) + steps(230, 1)),
    # half a second under the limit: not an event
    "short_dip": dict(readings=steps(230, 1) + steps(150, 1, 500) + steps(230, 2)),
    # back above the limit but not by the hysteresis: it holds; then it ends
    "hysteresis": dict(readings=steps(190, 2) + steps(196.5, 3) + steps(197.6, 1)),
    "swell": dict(readings=steps(270, 2) + steps(281.3, 1) + steps(262, 1)),
    # 200 V for 61 s: under-voltage (not a sag); 230 V ends it
    "under_voltage": dict(readings=steps(200, 61) + steps(198.5, 1) + steps(230, 1)),
    "frequency": dict(readings=steps(230, 60, hz=51.5) + steps(230, 1, hz=50)),
    "over_current": dict(cfg={"pq.i_max": 40.0}, readings=steps(230, 60, i=41.5)
                         + steps(230, 1, i=39.4)),
    # a limit of 0 is off; the rest still works
    "sag_off": dict(cfg={"pq.v_sag": 0.0}, readings=steps(150, 3) + steps(230, 1)),
    # no live numbers, or no voltage at all: no verdict
    "stale": dict(readings=steps(150, 3, st="stale") + steps(0, 3) + steps(230, 1)),
    # a sag before local midnight and one after it: each day counts its own; the one
    # still holding shows in `now`
    "new_day": dict(t0=T0 - 3600 - 5, readings=steps(150, 2) + steps(230, 1)
                    + steps(230, 4) + steps(150, 2)),
}


# the harness compiles prepay/settings.py from source to read the pq.* defaults; since the
# settings' problem texts joined it (the page's languages) that needs more than 64k (72k
# passed); the stage itself is measured in the meter's budgets (test_memory, test_esp32_heap)
HEAP = "80k"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    f = tmp_path_factory.mktemp("pq") / "scenarios.json"
    f.write_text(json.dumps([dict(sc, t0=sc.get("t0", T0)) for sc in SCENARIOS.values()]))
    return dict(zip(SCENARIOS, upy.run_json("quality_check.py", f, heap=HEAP)))


def only(r, what, n=1):
    assert {k: v for k, v in r["counts"].items() if v} == {what: n}


def test_sag_event_with_start_end_worst(results):
    r = results["sag"]
    assert r["events"] == [{"kind": "pq", "what": "sag", "start": T0 + 1, "end": T0 + 2,
                            "worst": 1852, "limit": 1955}]
    only(r, "sag")
    assert r["now"] == []


def test_shorter_than_the_minimum_is_not_an_event(results):
    assert results["short_dip"]["events"] == [] and results["short_dip"]["counts"]["sag"] == 0


def test_hysteresis_holds_until_back_past_it(results):
    (e,) = results["hysteresis"]["events"]
    assert (e["what"], e["start"], e["end"], e["worst"]) == ("sag", T0 + 1, T0 + 6, 1900)


def test_swell(results):
    (e,) = results["swell"]["events"]
    assert (e["what"], e["worst"], e["limit"], e["end"]) == ("swell", 2813, 2645, T0 + 4)


def test_under_voltage_needs_a_minute(results):
    (e,) = results["under_voltage"]["events"]
    assert (e["what"], e["start"], e["end"], e["worst"], e["limit"]) == (
        "under_voltage", T0 + 1, T0 + 63, 1985, 2070)
    only(results["under_voltage"], "under_voltage")


def test_frequency_and_over_current(results):
    (e,) = results["frequency"]["events"]
    assert (e["what"], e["worst"], e["limit"], e["end"]) == ("frequency", 5150, 5100, T0 + 61)
    (e,) = results["over_current"]["events"]
    assert (e["what"], e["worst"], e["limit"]) == ("over_current", 41500, 40000)


def test_a_zero_limit_is_off_and_no_verdict_without_live_numbers(results):
    assert results["sag_off"]["events"] == []
    # 150 V is also under 207 V, but under-voltage needs pq.long_s (60 s)
    assert results["stale"]["events"] == [] and results["stale"]["counts"]["sag"] == 0


def test_counts_restart_each_local_day(results):
    r = results["new_day"]
    assert [e["what"] for e in r["events"]] == ["sag"]    # the first, ended before midnight
    assert r["counts"]["sag"] == 1 and r["now"] == ["sag"]   # the second, still holding


def test_no_allocation_per_window():
    (r,) = upy.run_json("quality_check.py", "alloc", heap=HEAP)
    assert r == {"steady": 0, "sags": 0}
