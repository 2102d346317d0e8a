# Token entry gate: replay memory (last count + used-count bitmask) and the brute-force
# lockout; the OpenPAYGO codec (prepay.opaygo with SipHash and its viper step) is loaded
# only while a code is being checked, then dropped.
# Lockout: after 3 bad entries in a row each further bad entry locks entry for 10 s,
# doubling up to 1,280 s; an accepted token clears it. It survives a reboot: its length
# and end (UTC) are persisted, and at boot the remaining time is clamped to the lock
# length, so a clock reset after a power cut restarts the lock instead of lifting it.
from micropython import const

from lazy import forget

OK = const(0)          # decode status, as prepay.opaygo
INVALID = const(1)
USED = const(2)
OLD = const(3)
ADD = const(1)         # token types, as prepay.opaygo
SET = const(2)
DISABLE = const(3)
_FREE = const(3)       # bad entries allowed before the lockout starts
_LOCK0 = const(10)     # first lock, seconds
_LOCK_MAX = const(1280)


class Gate:
    def __init__(self, key, start, extended, max_jump, board):
        self.key = key          # "" when no key is provisioned
        self.start = start
        self.extended = extended
        self.max_jump = max_jump
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

    def enter(self, code):
        """-> (status, value, mode, count). A fresh authentic code is recorded in the replay
        memory (the caller credits it and saves); anything else changes nothing here."""
        if not self.key:
            return INVALID, None, None, None
        from prepay import opaygo
        try:
            c = opaygo.Codec(self.key, self.start, self.extended, self.max_jump)
            r = c.decode(code, self.last, self.used)
            if r[0] == OK:
                self.last, self.used = opaygo.apply(self.last, self.used, r[3], r[2])
                self.fails = self.lock_s = 0
                self._until = None
                self.accepted += 1
            return r
        finally:
            c = opaygo = None
            for name in ("prepay.opaygo", "prepay.sipstep", "prepay.siphash"):
                forget(name)

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
