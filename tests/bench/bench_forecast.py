"""Benchmark (make bench; not part of make test): the days-left forecast at the gateway
(gateway/forecasts.py over prepay/forecast.py) for a fleet with a week of 30-minute
aggregates and a time-of-use tariff. Prints ms per meter to make a plan (what every
evaluation cost without the per-hour cache), us per meter to ask a kept plan (what the
runs_out alert pays each evaluation within the hour), and their ratio. Figures only.
Size: BENCH_FORECAST_METERS (200)."""
import os
import time

from gateway import forecasts
from gateway.store import Store

METERS = int(os.environ.get("BENCH_FORECAST_METERS", 200))
T0 = 1_717_200_000 - 1_717_200_000 % 86400
TOU = {"rates": {"std": 5, "peak": 10, "off": "2.5"}, "default": "std",
       "standing_per_day": 30, "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"},
                                           {"rate": "off", "from": "23:00", "to": "06:00"}]}


def test_bench_forecast(tmp_path):
    store = Store(tmp_path / "f.db")
    store.put_tariff("tou", TOU)
    for n in range(METERS):
        mid = "m-%04d" % n
        store.register_meter(mid, tariff="tou")
        store.insert_records(mid, [(k + 1, T0 + 1800 * k, (400 + n) * k, 10000, 2300, 4350,
                                    1000, 5000, 1500, 0) for k in range(8 * 48)])
    meters = store.meters()
    now = T0 + 8 * 86400 + 600
    t = time.perf_counter()
    for m in meters:
        forecasts.days_left_of(store, m, 1500, now)
    made = (time.perf_counter() - t) / len(meters)
    plans = forecasts.Plans()
    for m in meters:
        plans.get(store, m, now)
    t = time.perf_counter()
    for m in meters:
        forecasts.days_left_of(store, m, 1500, now + 60, plans)
    asked = (time.perf_counter() - t) / len(meters)
    print()
    print("days-left forecast, %d meters, a week of 30-minute aggregates, 3-rate tariff:"
          % len(meters))
    print("  plan made each time  %8.2f ms/meter" % (made * 1e3))
    print("  plan kept (Plans)    %8.1f us/meter" % (asked * 1e6))
    print("  ratio                %8.0fx" % (made / asked))
    store.close()
    assert made > 0 and asked > 0
