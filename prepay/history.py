# The energy of each local hour of the last week: what the days-left rule
# (prepay/days_left.py) reads. Its own small module so that the meter keeps it resident and
# feeds it each window (device/credit/days.py; its page's 24-hour chart reads it too) while it
# loads the rule only to work the days out. The gateway fills one from its 30-minute slots.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x
from array import array

WEEK_H = const(168)
_RING = const(169)      # a week of complete hours and the current one
_HOUR_S = const(3600)


class History:
    """Wh used in each local hour of the last week. add() takes a local time and Wh in any
    amounts; hours skipped between two adds got nothing."""

    def __init__(self):
        # 4-byte slots on both runtimes and word sizes (2^31 Wh in an hour is no limit),
        # made from zero bytes: no list of 169 on the way
        self.wh = array("i", bytes(4 * _RING))
        self.first = -1   # local hour number (since 1970) of the oldest hour recorded
        self.last = -1    # and of the newest

    def add(self, t_local, wh):
        h = t_local // _HOUR_S
        if self.last < 0:
            self.first = self.last = h
        elif h > self.last:
            k = max(self.last + 1, h - _RING + 1)
            while k <= h:        # slots of the hours skipped held older data
                self.wh[k % _RING] = 0
                k += 1
            self.last = h
        elif h <= self.last - _RING:
            return               # older than the ring keeps
        elif h < self.first:
            self.first = h
        self.wh[h % _RING] += wh

    def span(self, now_h):
        """(oldest, newest) complete hours of the last week at local hour now_h; newest <
        oldest if there is none."""
        newest = min(self.last, now_h - 1)
        return max(self.first, newest - WEEK_H + 1, now_h - WEEK_H), newest

    def at(self, h):
        return self.wh[h % _RING]
