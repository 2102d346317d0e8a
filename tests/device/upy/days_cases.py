# The synthetic weeks on which the meter's days left (device/credit/days.py, run under
# MicroPython by cs_days.py) and the gateway's (prepay/forecast.py on CPython, as
# gateway/forecasts.py fills it from 30-minute slots) must agree: tests/device/test_days.py.
# Plain data, importable by both runtimes. Times are meter time: T0 is the credit harness's
# 2025-01-20 00:00 UTC, a Monday, and the meters' offset is 0.
T0 = 1737331200
FLAT = {"rates": {"std": 5}, "default": "std"}
# peak 18:00-22:00 at 10, else 5 a kWh, and a standing charge of 30 a day
TOU = {"rates": {"std": 5, "peak": 10}, "default": "std", "standing_per_day": 30,
       "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"}]}

# runs: [hours, W] from T0; credit: the meter's initial credit
CASES = {
    "constant": dict(tariff=FLAT, runs=[[168, 1000]], credit=3000),
    "weekly": dict(tariff=FLAT, runs=[[120, 500], [48, 2000]], credit=3000),
    "step": dict(tariff=FLAT, runs=[[144, 500], [24, 1500]], credit=3000),
    "tou_standing": dict(tariff=TOU, runs=[[18, 500], [4, 2000], [2, 500]] * 7, credit=4000),
    "two_days": dict(tariff=TOU, runs=[[48, 1000]], credit=4000),
}


def hours_of(case):
    return sum(n for n, _ in case["runs"])
