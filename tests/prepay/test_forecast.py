"""Days of credit left and spend projections (prepay/forecast.py, on the one days-left rule of
prepay/days_left.py) on synthetic histories whose answers are worked out by hand, on BOTH
runtimes: CPython here, the unix-port
MicroPython (its default 128k heap) through tests/device/upy/forecast_check.py.

Money: a flat 5 minor units per kWh and a standing charge of 30 a day, so 1 kWh every hour
costs 24 x 5 + 30 = 150 a day."""
import json

import pytest

import upy
from prepay.forecast import History, days_left
from prepay.tariff import Tariff, weekday
from prepay.tariff_parse import days_from_civil

DAY = 86400
MON = days_from_civil(2026, 11, 2) * DAY   # local midnight starting a Monday
assert weekday(MON // DAY) == 0
FLAT = {"rates": {"std": 5}, "default": "std", "standing_per_day": 30}
TOU = {"rates": {"std": 5, "peak": 10}, "default": "std", "standing_per_day": 30,
       "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}]}
WEEK = MON + 7 * DAY

CASES = {
    # 1 kWh every hour for a week: 150 a day, so 1200 lasts 8 days; no spread
    "constant": dict(tariff=FLAT, start=MON, runs=[[168, 1000]], now=WEEK, credit=1200,
                     spend_s=10 * DAY),
    # the same from 00:30: ten days from then still cost 10 x 150 exactly
    "constant_mid_hour": dict(tariff=FLAT, start=MON, runs=[[168, 1000]], now=WEEK + 1800,
                              credit=1200, spend_s=10 * DAY),
    # time of use: 20 h at 5 and 4 h at 10 a kWh, plus 30: 170 a day
    "tou": dict(tariff=TOU, start=MON, runs=[[168, 1000]], now=WEEK, credit=340),
    # each time-of-use bucket at its own use: 2 kWh an hour at peak (80 a day), 0.5 kWh
    # at std (50), plus 30: 160 a day
    "tou_by_bucket": dict(tariff=TOU, start=MON, runs=[[18, 500], [4, 2000], [2, 500]] * 7,
                          now=WEEK, credit=320),
    # weekdays 0.5 kWh an hour (90 a day with standing), weekends 2 kWh (270 a day)
    "weekly_5_days": dict(tariff=FLAT, start=MON, runs=[[120, 500], [48, 2000]], now=WEEK,
                          credit=450, spend_s=7 * DAY),
    # 450 for Mon-Fri, 540 for the weekend, then 10 of Monday's 3.75 an hour
    "weekly_wraps": dict(tariff=FLAT, start=MON, runs=[[120, 500], [48, 2000]], now=WEEK,
                         credit=1000),
    # six days at 0.5 kWh an hour, then a day at 1.5 kWh an hour
    "step": dict(tariff=FLAT, start=MON, runs=[[144, 500], [24, 1500]], now=WEEK, credit=450),
    # three hours: mean 1 kWh, heaviest 1.5, lightest 0.5
    "three_hours": dict(tariff=FLAT, start=MON, runs=[[1, 500], [1, 1000], [1, 1500]],
                        now=MON + 3 * 3600, credit=1200),
    # two days of 1 kWh an hour: the hour-of-day basis
    "two_days": dict(tariff=FLAT, start=MON, runs=[[48, 1000]], now=MON + 2 * DAY,
                     credit=1200),
    # nothing used yet: only the standing charge, 1200 / 30 = 40 days
    "no_use": dict(tariff=FLAT, start=MON, runs=[[24, 0]], now=MON + DAY, credit=1200),
    # no credit left
    "empty": dict(tariff=FLAT, start=MON, runs=[[24, 1000]], now=MON + DAY, credit=0),
    # no standing charge and no use: never runs out
    "never": dict(tariff={"rates": {"std": 5}, "default": "std"}, start=MON, runs=[[24, 0]],
                  now=MON + DAY, credit=1200),
    # no complete hour yet
    "unknown": dict(tariff=FLAT, start=MON, runs=[], now=MON + 1800, credit=1200),
}
# [seconds, soonest, latest, hours used, basis, hours needed for a week's basis]
EXPECT = {
    "constant": [8 * DAY, 8 * DAY, 8 * DAY, 168, "week", 0],
    "constant_mid_hour": [8 * DAY, 8 * DAY, 8 * DAY, 168, "week", 0],
    "tou": [2 * DAY, 2 * DAY, 2 * DAY, 168, "week", 0],
    "tou_by_bucket": [2 * DAY, 2 * DAY, 2 * DAY, 168, "week", 0],
    # the week's average day: (5 x 90 + 2 x 270) / 7 = 990 / 7 a day; soonest: every day
    # like a weekend day, 450 / 270 days; latest: like a weekday
    "weekly_5_days": [450 * 7 * DAY // 990, 450 * DAY // 270, 5 * DAY, 168, "week", 0],
    "weekly_wraps": [1000 * 7 * DAY // 990, 1000 * DAY // 270, 1000 * DAY // 90, 168, "week",
                     0],
    # the average day (6 x 90 + 210) / 7 = 750 / 7; soonest: every day like the new level,
    # 36 kWh = 210 a day; latest: like the old one
    "step": [450 * 7 * DAY // 750, 450 * DAY // 210, 5 * DAY, 168, "week", 0],
    "three_hours": [8 * DAY, 1200 * DAY // 210, 1200 * DAY // 90, 3, "hours", 165],
    "two_days": [8 * DAY, 8 * DAY, 8 * DAY, 48, "day", 120],
    "no_use": [40 * DAY, 40 * DAY, 40 * DAY, 24, "day", 144],
    "empty": [0, 0, 0, 24, "day", 144],
    "never": [None, None, None, 24, "day", 144],
    "unknown": [None, None, None, 0, "none", 168],
}


def _cpython(cases):
    return upy.check_module("forecast_check").evaluate(cases)


@pytest.fixture(scope="module", params=["cpython", "micropython"])
def results(request, tmp_path_factory):
    cases = list(CASES.values())
    if request.param == "cpython":
        out = _cpython(cases)
    else:
        f = tmp_path_factory.mktemp("forecast") / "cases.json"
        f.write_text(json.dumps(cases))
        (out,) = upy.run_json("forecast_check.py", f)
    return dict(zip(CASES, out))


@pytest.mark.parametrize("name", list(EXPECT))
def test_days_left(results, name):
    assert results[name]["days"] == EXPECT[name]


def test_days_in_hundredths(results):
    assert results["weekly_wraps"]["days_x100"] == 707   # 7000 / 990 = 7.07 days
    assert results["unknown"]["days_x100"] is None


def test_spend_projection(results):
    # [expected, low, high] micro-minor units, then the basis and hours used
    assert results["constant"]["spend"] == [1500 * 10 ** 6] * 3 + ["week", 168]
    assert results["constant_mid_hour"]["spend"] == [1500 * 10 ** 6] * 3 + ["week", 168]
    # a week ahead: the week's 990 as expected (7 average days, each rounded down to the
    # micro-minor unit), every day a weekday (630) or a weekend day (1890) as the range
    assert results["weekly_5_days"]["spend"] == [7 * (990 * 10 ** 6 // 7), 630 * 10 ** 6,
                                                 1890 * 10 ** 6, "week", 168]


def test_history_gap_counts_as_no_use_and_old_data_is_ignored():
    h = History()
    h.add(MON, 1000)
    h.add(MON + 10 * 3600, 1000)          # hours 1..9 got nothing: no use
    h.add(MON - 200 * 3600, 5000)         # older than the ring keeps: ignored
    e = days_left(h, Tariff(FLAT), 1200, MON + 11 * 3600)
    assert (e.hours, e.basis) == (11, "hours")
    # 2 kWh in 11 hours at 5 a kWh, scaled to a day, plus 30 standing a day
    assert e.seconds == 1200 * 10 ** 6 * DAY // (2000 * 5000 * 24 // 11 + 30 * 10 ** 6)
    # heaviest hour 1 kWh: 150 a day, 8 days; lightest nothing: the standing charge alone
    assert (e.soonest, e.latest) == (8 * DAY, 40 * DAY)
