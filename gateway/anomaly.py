"""Consumption anomalies against a meter's own baseline: pure detection, no database.

A local day is 8 blocks of 3 hours. The baseline of a block is the same block on the same
kind of day (weekday, or weekend) over the trailing WINDOW_DAYS: its median, and its
spread, the median absolute deviation scaled to a standard deviation (x 1.4826), both robust
to the odd unusual day in the window. A block is high when it is more than K spreads above
its median and by at least MIN_EXCESS_WH, since a quiet block's spread can be a few Wh. Findings, per day, ask for sustained deviations:
- stuck_on: both night blocks (00:00-06:00) high: a heater or pump left on;
- spike: a run of at least SPIKE_BLOCKS high blocks in the day whose total is also more than
  K spreads above its usual and over SPIKE_PCT % of it: sustained extra use;
- drop: the whole day more than K_DROP spreads under its usual total, and under DROP_PCT of
  it: a bypass or a failing meter (a block alone varies too much with appliances, so a
  drop is judged on the day).
Each explains itself with the run's energy and the usual energy of the same hours: "Tuesday
00:00-06:00 used 1.8 kWh; usual is 0.2 ± 0.1 kWh". Energy is integer Wh throughout.
"""
from prepay.tariff import DAYS, weekday

BLOCK_H = 3
BLOCKS = 24 // BLOCK_H
WINDOW_DAYS = 28
MIN_SAMPLES = 4        # fewer baseline days of the kind: no verdict on that block
K = 5
MIN_EXCESS_WH = 300    # per block: 100 W more for 3 hours
SPIKE_BLOCKS = 3
SPIKE_PCT = 300
K_DROP = 2
DROP_PCT = 60
NIGHT = (0, 1)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
assert len(DAY_NAMES) == len(DAYS)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) // 2


def robust(xs):
    """(median, spread): spread = 1.4826 x the median absolute deviation, in integers."""
    m = median(xs)
    return m, median([abs(x - m) for x in xs]) * 14826 // 10000


def weekend(day):
    return weekday(day) >= 5


def samples(days, day, blocks):
    """Totals of `blocks` on the baseline days of `day`: the same kind of day, in the
    WINDOW_DAYS before it, complete (8 blocks known)."""
    out = []
    for d in range(day - WINDOW_DAYS, day):
        b = days.get(d)
        if b is not None and weekend(d) == weekend(day):
            out.append(sum(b[k] for k in blocks))
    return out


class Finding:
    def __init__(self, kind, day, first, last, wh, usual, spread):
        self.kind = kind
        self.day = day          # local day number
        self.first, self.last = first, last   # blocks, inclusive
        self.wh, self.usual, self.spread = wh, usual, spread

    def hours(self):
        return self.first * BLOCK_H, (self.last + 1) * BLOCK_H

    def explanation(self):
        a, b = self.hours()
        return "%s %02d:00–%02d:00 used %s kWh; usual is %s ± %s kWh" % (
            DAY_NAMES[weekday(self.day)], a, b, _kwh(self.wh), _kwh(self.usual),
            _kwh(self.spread))

    def as_dict(self):
        a, b = self.hours()
        return {"what": self.kind, "day": self.day, "from_h": a, "to_h": b, "wh": self.wh,
                "usual_wh": self.usual, "spread_wh": self.spread}


def _kwh(wh):
    """Wh -> kWh with one decimal, rounded half up."""
    return "%d.%d" % divmod((wh + 50) // 100, 10)


def detect(days, day, stats=robust, min_excess_wh=MIN_EXCESS_WH):
    """Findings for local day `day`; days: {local day: [Wh of each block]} holding the day
    and its baseline window. [] when the day or its baseline is missing. stats(samples) ->
    (centre, spread): the benchmark swaps in mean and standard deviation to compare."""
    today = days.get(day)
    if today is None:
        return []
    high = [False] * BLOCKS
    known = 0
    for k in range(BLOCKS):
        xs = samples(days, day, (k,))
        if len(xs) < MIN_SAMPLES:
            continue
        known += 1
        m, s = stats(xs)
        x = today[k]
        high[k] = x > m + K * s and x - m >= min_excess_wh
    if known < BLOCKS:
        return []
    out = []
    if all(high[k] for k in NIGHT):
        out.append(_finding("stuck_on", days, day, NIGHT[0], NIGHT[-1], stats))
    run = 0
    for k in range(BLOCKS + 1):
        if k < BLOCKS and high[k]:
            run += 1
            continue
        if run >= SPIKE_BLOCKS and not (out and k - run <= NIGHT[-1]):   # not the stuck_on
            f = _finding("spike", days, day, k - run, k - 1, stats)
            # the run as a whole too: washing, ironing and cooling on one day can add
            # twice the usual, a load left on adds far more
            if f.wh > f.usual + K * f.spread and f.wh * 100 > f.usual * SPIKE_PCT:
                out.append(f)
        run = 0
    f = _finding("drop", days, day, 0, BLOCKS - 1, stats)
    if f.wh < f.usual - K_DROP * f.spread and f.wh * 100 < f.usual * DROP_PCT:
        out.append(f)
    return out


def _finding(kind, days, day, first, last, stats):
    blocks = range(first, last + 1)
    usual, spread = stats(samples(days, day, blocks))
    return Finding(kind, day, first, last, sum(days[day][k] for k in blocks), usual, spread)


def blocks_of(hourly):
    """{local hour number: Wh} -> {local day: [Wh of each block]}, complete days only."""
    days = {}
    counts = {}
    for h, wh in hourly.items():
        d, k = divmod(h, 24)
        b = days.get(d)
        if b is None:
            b = days[d] = [0] * BLOCKS
            counts[d] = 0
        b[k // BLOCK_H] += wh
        counts[d] += 1
    return {d: b for d, b in days.items() if counts[d] == 24}
