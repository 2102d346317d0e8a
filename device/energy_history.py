# The consumer page's energy history: Wh per local day (last 30) and this month's total, fed
# from the cumulative register each metering window (the last stage of the metering task,
# beside the journal). Its Wh per local hour are the credit stage's week (credit/days.py, a
# prepay.history.History that the days-left rule reads): one hourly series for both, so the
# 24 hours here are no copy. Persisted in A/B slots <root>/journal/rollup.a|b (where the
# journal kept it before) at most once per hour (on the hour change), so it costs ~24 flash
# writes a day. Older firmware saved its own 24 hours there too ("h"): ignored.
# Energy used between the last save and a restart is not lost: the register delta since the
# saved register value is booked to the day the meter restarts in.
import os
import time

from state_file import StateFile

_D = 30


class EnergyHistory:
    def __init__(self, root, utc_offset_min, hours):
        try:
            os.mkdir(root + "/journal")
        except OSError:
            pass                # there already
        self._slots = StateFile(root + "/journal/rollup")
        self._off = utc_offset_min * 60
        self.hours = hours  # the credit stage's week of hourly Wh (prepay.history.History)
        self._d = [0] * _D
        self._hi = -1       # current local hour index (local epoch // 3600), -1 = not started
        self._di = -1       # current local day index
        self._mon = 0       # current local month as yyyymm
        self.month = 0      # Wh this month
        self._wh = -1       # register value last booked
        self._ok = False    # indices were set from a synced clock
        self._saved_h = -1
        st = self._slots.load()
        if st:
            try:
                self._hi, self._di, self._mon, self.month, self._wh, self._ok = st["i"]
                self._d[:] = st["d"]
            except (KeyError, ValueError, TypeError):
                self._slots.corrupt += 1
                self._hi = -1

    @property
    def writes(self):
        return self._slots.writes

    def add(self, utc, wh, synced):
        """Book the register delta since the last window to the current local day."""
        local = utc + self._off - 1   # a window ending at 01:00:00 belongs to hour 00
        hi = local // 3600
        if self._hi < 0 or (synced and not self._ok) or (synced and hi < self._hi):
            # first start, the clock just got synced, or it went back: re-index and keep
            # the current hour's and day's counts (their true time is unknown)
            self._ok = synced
            self._reindex(hi, local)
        elif synced and hi != self._hi:
            self._rotate(hi, local)
        elif hi != self._saved_h:
            self.save()   # unsynced: still persist the counts about once an hour
        self._saved_h = hi
        if self._wh < 0 or wh < self._wh:
            self._wh = wh  # first window, or the register was restored lower: re-base
            return
        d = wh - self._wh
        if d:
            self._wh = wh
            self._d[self._di % _D] += d
            self.month += d

    def _reindex(self, hi, local):
        d = self._d[self._di % _D] if self._di >= 0 else 0
        self._d[:] = [0] * _D
        self._hi, self._di = hi, local // 86400
        self._d[self._di % _D] = d
        mon = self._month_of(local)
        if mon != self._mon:
            self._mon, self.month = mon, d
        self.save()

    def _rotate(self, hi, local):
        self._hi = hi
        di = local // 86400
        if di != self._di:
            _clear(self._d, _D, self._di, di)
            self._di = di
            mon = self._month_of(local)
            if mon != self._mon:
                self._mon, self.month = mon, 0
        self.save()

    @staticmethod
    def _month_of(local):
        tm = time.gmtime(local)
        return tm[0] * 100 + tm[1]

    def save(self):
        self._slots.save({"i": [self._hi, self._di, self._mon, self.month, self._wh, self._ok],
                          "d": self._d})

    def hourly(self, n=24):
        """Wh of the last n (at most 168) local hours, oldest first; the last one is the
        current hour. From the week, which counts only windows with a synced clock."""
        h = self.hours
        lo = h.last - n + 1
        return [h.at(lo + k) if lo + k >= h.first else 0 for k in range(n)]

    def daily(self, n=30):
        """Wh of the last n local days, oldest first; the last one is today."""
        n = min(n, _D)
        return [self._d[(self._di - n + 1 + k) % _D] for k in range(n)]

    def today_wh(self):
        return self._d[self._di % _D] if self._di >= 0 else 0

    def month_wh(self):
        return self.month


def _clear(ring, n, last, now):
    """Zero a ring of n slots for the indices after `last` up to `now` (all after a lap)."""
    if now - last >= n:
        for k in range(n):
            ring[k] = 0
    else:
        for k in range(last + 1, now + 1):
            ring[k % n] = 0
