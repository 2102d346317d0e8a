# Token entry gate: replay memory (last count + used-count bitmask) and the brute-force
# lockout; the OpenPAYGO codec (prepay.opaygo with SipHash and its viper step) is loaded
# only while a code is being checked, then dropped.
# Lockout (the Lockout base class, lockout.py, which the admin PIN shares): the 3rd bad
# entry in a row and each further one lock entry for 10 s, doubling up to 1,280 s; a typed
# accepted token clears it. It survives a reboot in the credit state (state() / restore()).
from micropython import const

from lazy import forget
from lockout import Lockout

OK = const(0)          # decode status, as prepay.opaygo
INVALID = const(1)
USED = const(2)
OLD = const(3)
ADD = const(1)         # token types, as prepay.opaygo
SET = const(2)
DISABLE = const(3)
_FREE = const(2)       # bad entries in a row before the one that locks
_LOCK0 = const(10)     # first lock, seconds
_LOCK_MAX = const(1280)


class Gate(Lockout):
    FREE = _FREE
    FIRST_S = _LOCK0
    MAX_S = _LOCK_MAX

    def __init__(self, key, start, extended, max_jump, board):
        self.key = key          # "" when no key is provisioned
        self.start = start
        self.extended = extended
        self.max_jump = max_jump
        Lockout.__init__(self, board)
        self.last = 0          # highest count accepted (0: none yet)
        self.used = 1          # bit i: count last-i used (count 0 is never a token)
        self.rejected = 0      # counters for the page and telemetry
        self.accepted = 0
        self.remote_rejected = 0   # bad codes delivered over MQTT (outside the lockout)

    def enter(self, code, remote=False):
        """-> (status, value, mode, count). A fresh authentic code is recorded in the replay
        memory (the caller credits it and saves); anything else changes nothing here. A
        typed (not remote) accepted code also clears the consumer's lockout."""
        if not self.key:
            return INVALID, None, None, None
        from prepay import opaygo   # dropped after: resident, 5.6 KB of the loose 32-bit heap
        try:
            c = opaygo.Codec(self.key, self.start, self.extended, self.max_jump)
            r = c.decode(code, self.last, self.used)
            if r[0] == OK:
                self.last, self.used = opaygo.apply(self.last, self.used, r[3], r[2])
                if not remote:
                    self.unlock()
                self.accepted += 1
            return r
        finally:
            c = opaygo = None
            for name in ("prepay.opaygo", "prepay.sipstep", "prepay.siphash"):
                forget(name)

    def bad(self, utc):
        """A bad entry. -> seconds locked now (0 if not locked)."""
        self.rejected += 1
        return self.fail(utc)

    def state(self):
        return [self.last, self.used] + self.lock_state()

    def restore(self, s, utc, rtc_valid):
        self.last, self.used = s[0], s[1]
        self.lock_restore(s[2:], utc, rtc_valid)
