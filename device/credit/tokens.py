# Token entry gate: format and authentication (prepay.opaygo), replay memory (last count +
# used-count bitmask) and the brute-force lockout. After 3 bad entries in a row each further
# bad entry locks entry for 10 s, doubling up to 1,280 s; an accepted token clears it.
# The lockout survives a reboot: its length and end (UTC) are persisted, and at boot the
# remaining time is clamped to the lock length, so a clock reset after a power cut
# restarts the lock instead of lifting (or stretching) it.
from micropython import const

from prepay import opaygo

_FREE = const(3)       # bad entries allowed before the lockout starts
_LOCK0 = const(10)     # first lock, seconds
_LOCK_MAX = const(1280)


class Gate:
    def __init__(self, codec, board):
        self.codec = codec
        self.b = board
        self.last = 0          # highest count accepted (0: none yet)
        self.used = 1          # bit i: count last-i used (count 0 is never a token)
        self.fails = 0         # consecutive bad entries
        self.lock_s = 0        # length of the current lock
        self.lock_end = 0      # UTC end of the current lock (for reboot)
        self._until = None     # ticks_ms end of the lock while running
        self.rejected = 0      # counters for the page and telemetry
        self.accepted = 0

    def locked_s(self):
        if self._until is None:
            return 0
        left = self.b.ticks_diff(self._until, self.b.ticks_ms())
        if left <= 0:
            self._until = None
            return 0
        return (left + 999) // 1000

    def check(self, code):
        """-> (status, value, mode, count); no state change. Format errors are INVALID."""
        if self.codec is None:
            return opaygo.INVALID, None, None, None
        return self.codec.decode(code, self.last, self.used)

    def commit(self, count, mode):
        self.last, self.used = opaygo.apply(self.last, self.used, count, mode)
        self.fails = self.lock_s = 0
        self._until = None
        self.accepted += 1

    def bad(self, utc):
        """A bad entry. -> seconds locked now (0 if not locked)."""
        self.rejected += 1
        self.fails += 1
        if self.fails < _FREE:
            return 0
        n = self.fails - _FREE
        self.lock_s = _LOCK_MAX if n > 7 else min(_LOCK0 << n, _LOCK_MAX)
        self.lock_end = utc + self.lock_s
        self._until = self.b.ticks_add(self.b.ticks_ms(), self.lock_s * 1000)
        return self.lock_s

    def state(self):
        return [self.last, self.used, self.fails, self.lock_s, self.lock_end]

    def restore(self, s, utc, rtc_valid):
        self.last, self.used, self.fails, self.lock_s, self.lock_end = s
        if self.lock_s:
            left = self.lock_end - utc if rtc_valid else self.lock_s
            if left > self.lock_s:
                left = self.lock_s
            if left > 0:
                self._until = self.b.ticks_add(self.b.ticks_ms(), left * 1000)
