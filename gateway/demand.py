"""Maximum demand from the interval records meters send (for demand charges, docs/billing.md).

Demand is the average power over a clock-aligned window of 15 or 30 minutes: the Wh of the
records ending in (k*W, (k+1)*W] (the same convention as the 30-minute aggregates), times
3600/W, in kW. It is exact (a Fraction): a demand charge is money, so no float.
"""
from fractions import Fraction

WINDOWS_S = (900, 1800)


def max_demand_kw(intervals, window_s=1800):
    """[(t_end UTC seconds, wh), ...] -> the largest window's demand in kW (0 without data)."""
    if window_s not in WINDOWS_S:
        raise ValueError("demand window must be 15 or 30 minutes (900 or 1800 s), got %r"
                         % (window_s,))
    sums = {}
    for t_end, wh in intervals:
        if wh < 0:
            raise ValueError("interval ending at %d: negative energy %d Wh" % (t_end, wh))
        window = (t_end - 1) // window_s     # a record ending on a boundary closes that window
        sums[window] = sums.get(window, 0) + wh
    return Fraction(max(sums.values(), default=0) * 3600, window_s * 1000)


def register_intervals(records, flag_excluded, excluded_seqs=()):
    """Interval energies from stored records [(seq, t, wh register, flags)] sorted by seq:
    [(t_start, t_end, wh)] for each pair of consecutive records (seq-1, seq). A pair is left
    out when a seq is missing between them, either record has a flag in `flag_excluded`
    (a gap marker, whose wh is no register reading; an unsynced clock), its energy goes
    backwards, or its seq is one the aggregation excluded as an anomaly (excluded_seqs)."""
    out, prev = [], None
    for seq, t, wh, flags in records:
        if prev is not None and seq == prev[0] + 1 and t > prev[1] and wh >= prev[2] \
                and not (flags | prev[3]) & flag_excluded and seq not in excluded_seqs:
            out.append((prev[1], t, wh - prev[2]))
        prev = (seq, t, wh, flags)
    return out


def max_demand_spread_kw(intervals, window_s, lo=None, hi=None):
    """The largest window's demand (kW, exact) of [(t_start, t_end, wh)], each interval's
    energy spread over the clock-aligned windows it covers in proportion to time (a 1-minute
    record lies in one window). Only windows within [lo, hi) count when given."""
    if window_s not in WINDOWS_S:
        raise ValueError("demand window must be 15 or 30 minutes (900 or 1800 s), got %r"
                         % (window_s,))
    sums = {}
    for t0, t1, wh in intervals:
        first, last = t0 // window_s, (t1 - 1) // window_s
        a = first if lo is None else max(first, lo // window_s)
        b = last if hi is None else min(last, (hi - 1) // window_s)
        for w in range(a, b + 1):      # only the windows that count
            part = wh if first == last else Fraction(
                wh * (min(t1, (w + 1) * window_s) - max(t0, w * window_s)), t1 - t0)
            sums[w] = sums.get(w, 0) + part
    ok = [v for w, v in sums.items() if (lo is None or w * window_s >= lo)
          and (hi is None or (w + 1) * window_s <= hi)]
    return Fraction(max(ok, default=0) * 3600, window_s * 1000)
