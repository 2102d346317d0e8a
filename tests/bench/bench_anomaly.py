"""Benchmark (make bench; not part of make test): consumption anomaly detection
(gateway/anomaly.py) on a synthetic fleet of the simulators' households
(simulated/loadprofile.py), with anomalies injected where the answer is known:
- stuck_on: a load of 200-2000 W left on from 22:00 to 07:00 one night;
- bypass: from a random hour, the meter sees only 10-50 % of the load, for 3 more days.
Prints recall on each, precision, and false alerts per 1,000 meter-days, for the robust
detector and, as the same-run baseline, the same rules on mean and standard deviation.
Targets (issue 16): recall >= 0.9 on both, <= 1 false alert per 1,000 meter-days.
Figures only: the one assertion is that the run produced them.
Size: BENCH_ANOMALY_METERS (150), BENCH_ANOMALY_DAYS evaluated per meter (42)."""
import os
import random
import statistics
import time

from gateway import anomaly
from simulated.loadprofile import Household

METERS = int(os.environ.get("BENCH_ANOMALY_METERS", 150))
EVAL_DAYS = int(os.environ.get("BENCH_ANOMALY_DAYS", 42))
DAY0 = 20000                        # local day number of the first baseline day
STEP_S = 600                        # load sampled every 10 minutes


def fleet_day_blocks(seed, rng):
    """One meter: ({day: blocks}, {day: truth kind}, set of days to ignore)."""
    h = Household(seed)
    days = DAY0 + anomaly.WINDOW_DAYS + EVAL_DAYS
    kind = ("stuck_on", "bypass", None)[seed % 3]
    first_eval = DAY0 + anomaly.WINDOW_DAYS
    truth, ignore = {}, set()
    extra = lambda t: 0
    scale = lambda t: 1.0
    if kind == "stuck_on":
        d = rng.randrange(first_eval + 1, days)
        w = rng.randrange(200, 2001)
        lo, hi = d * 86400 - 7200, d * 86400 + 7 * 3600
        extra = lambda t: w if lo <= t < hi else 0
        truth[d] = "stuck_on"
    elif kind == "bypass":
        d = rng.randrange(first_eval, days - 3)
        f = rng.uniform(0.1, 0.5)
        start, end = d * 86400 + rng.randrange(24) * 3600, (d + 4) * 86400
        scale = lambda t: f if start <= t < end else 1.0
        ignore.add(d)
        for k in range(1, 4):
            truth[d + k] = "drop"
    hourly = {}
    for hour in range(DAY0 * 24, days * 24):
        e = 0
        for t in range(hour * 3600, hour * 3600 + 3600, STEP_S):
            e += (h.watts(t) * scale(t) + extra(t)) * STEP_S
        hourly[hour] = int(e // 3600)
    return anomaly.blocks_of(hourly), truth, ignore


def mean_sd(xs):
    return int(statistics.fmean(xs)), int(statistics.pstdev(xs))


def score(detect, fleet):
    found = {"stuck_on": [0, 0], "drop": [0, 0]}   # kind -> [detected, injected]
    tp = fp = clean = 0
    for days, truth, ignore in fleet:
        for d in range(DAY0 + anomaly.WINDOW_DAYS, DAY0 + anomaly.WINDOW_DAYS + EVAL_DAYS):
            if d in ignore:
                continue
            kinds = {f.kind for f in detect(days, d)}
            want = truth.get(d)
            if want is None:
                clean += 1
                fp += bool(kinds)
                continue
            hit = bool(kinds & ({"stuck_on", "spike"} if want == "stuck_on" else {"drop"}))
            found[want][0] += hit
            found[want][1] += 1
            tp += hit
            fp += bool(kinds) and not hit
    return found, tp, fp, clean


def test_bench_anomaly_detection():
    rng = random.Random(16)
    t0 = time.monotonic()
    fleet = [fleet_day_blocks(seed, rng) for seed in range(1, METERS + 1)]
    built = time.monotonic() - t0
    print()
    print("consumption anomalies: %d meters, %d baseline + %d evaluated days each "
          "(fleet built in %.1f s)" % (METERS, anomaly.WINDOW_DAYS, EVAL_DAYS, built))
    rows = {}
    for name, stats in (("median/MAD", anomaly.robust), ("mean/stdev", mean_sd)):
        t0 = time.monotonic()
        found, tp, fp, clean = score(lambda days, d: anomaly.detect(days, d, stats), fleet)
        took = time.monotonic() - t0
        meter_days = clean + sum(v[1] for v in found.values())
        rows[name] = r = {
            "recall_stuck_on": found["stuck_on"][0] / max(1, found["stuck_on"][1]),
            "recall_bypass": found["drop"][0] / max(1, found["drop"][1]),
            "precision": tp / max(1, tp + fp),
            "false_per_1000": 1000 * fp / max(1, meter_days)}
        print("  %-10s recall stuck-on %.3f (%d/%d), bypass %.3f (%d/%d); precision %.3f;"
              " false alerts %.2f per 1,000 meter-days (%d in %d); %.0f us/meter-day" % (
                  name, r["recall_stuck_on"], found["stuck_on"][0], found["stuck_on"][1],
                  r["recall_bypass"], found["drop"][0], found["drop"][1], r["precision"],
                  r["false_per_1000"], fp, meter_days, 1e6 * took / max(1, meter_days)))
    r, b = rows["median/MAD"], rows["mean/stdev"]
    met = (r["recall_stuck_on"] >= 0.9 and r["recall_bypass"] >= 0.9
           and r["false_per_1000"] <= 1)
    print("  target (recall >= 0.9 on both, <= 1 false / 1,000 meter-days): %s" % (
        "met" if met else "NOT met"))
    print("  ratio median/MAD : mean/stdev  false alerts %s, bypass recall %.2f" % (
        "%.2f" % (r["false_per_1000"] / b["false_per_1000"]) if b["false_per_1000"] else "n/a",
        r["recall_bypass"] / b["recall_bypass"] if b["recall_bypass"] else float("nan")))
    assert rows
