# Runs the forecast cases of tests/prepay/test_forecast.py with prepay.forecast and prints
# the results as one JSON object. The same function runs on CPython (imported by the test)
# and on the unix-port MicroPython (run as a script with the cases file).
import json
import sys

from prepay.forecast import History, days_left, spend
from prepay.tariff import Tariff


def history(case):
    h = History()
    t = case["start"]
    for hours, wh in case["runs"]:   # wh in every hour, added as two half-hour slots
        for _ in range(hours):
            h.add(t, wh // 2)
            h.add(t + 1800, wh - wh // 2)
            t += 3600
    return h


def evaluate(cases):
    out = []
    for case in cases:
        tariff = Tariff(case["tariff"])
        h = history(case)
        e = days_left(h, tariff, case["credit"], case["now"])
        r = {"days": [e.seconds, e.soonest, e.latest, e.hours, e.basis, e.needs_hours],
             "days_x100": e.days_x100(e.seconds)}
        if "spend_s" in case:
            r["spend"] = list(spend(h, tariff, case["now"], case["spend_s"]))
        out.append(r)
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(evaluate(json.load(f))))
