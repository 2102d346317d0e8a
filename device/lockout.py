# The one brute-force lockout, the base of the admin PIN gate (web/pin.py) and the token
# entry gate (credit/tokens.py), each with its own figures (class attributes FREE, FIRST_S,
# MAX_S): after FREE bad tries in a row each further one locks for FIRST_S, doubling up to
# MAX_S; a good try unlocks (the subclass says when). The lock runs on the board's ticks, so
# setting the clock neither lifts nor stretches it; its length and end (UTC) are kept for
# the subclass to persist, and lock_restore() clamps what is left to the lock's length, so
# a reboot with a reset clock restarts the lock rather than lifting it. A base class rather
# than a member: one object per gate, not two, on the meter's heap.


class Lockout:
    FREE = 3
    FIRST_S = 10
    MAX_S = 3600

    def __init__(self, board):
        self.b = board
        self.fails = 0         # consecutive bad tries
        self.lock_s = 0        # length of the current lock
        self.lock_end = 0      # UTC end of the current lock (for a reboot)
        self._until = None     # ticks_ms end of the lock while running

    def locked_s(self):
        if self._until is None:
            return 0
        left = self.b.ticks_diff(self._until, self.b.ticks_ms())
        if left <= 0:
            self._until = None
            return 0
        return (left + 999) // 1000

    def fail(self, utc):
        """A bad try at UTC second utc. -> seconds locked now (0 if not locked)."""
        self.fails += 1
        n = self.fails - self.FREE
        if n <= 0:
            return 0
        self.lock_s = min(self.FIRST_S << min(n - 1, 16), self.MAX_S)
        self.lock_end = utc + self.lock_s
        self._until = self.b.ticks_add(self.b.ticks_ms(), self.lock_s * 1000)
        return self.lock_s

    def unlock(self):
        self.fails = self.lock_s = 0
        self._until = None

    def lock_state(self):
        return [self.fails, self.lock_s, self.lock_end]

    def lock_restore(self, s, utc, rtc_valid):
        """Back from lock_state() after a reboot: the lock goes on for what was left of it,
        at most its length (all of it when the clock is not set)."""
        self.fails, self.lock_s, self.lock_end = s
        if self.lock_s:
            left = self.lock_end - utc if rtc_valid else self.lock_s
            if left > self.lock_s:
                left = self.lock_s
            if left > 0:
                self._until = self.b.ticks_add(self.b.ticks_ms(), left * 1000)
