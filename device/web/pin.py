# Admin PIN gate. The PIN is only ever compared as sha256(salt + PIN) against web.pin_hash
# (never stored in plain text). After _FREE bad attempts each further one locks the gate
# for _BASE_S doubling up to _MAX_S (the Lockout base class, lockout.py, which token entry
# shares); the lock is kept in <root>/pinlock so a reboot does not reset it (written only on
# failures and on the first success after them). A good PIN gives one session token (one
# admin at a time), expiring after _IDLE_MS without use.
import binascii
import hashlib
import os
import time
from micropython import const

from lockout import Lockout

_FREE = const(3)
_BASE_S = const(10)
_MAX_S = const(3600)
_IDLE_MS = const(600000)


def digest(salt, pin):
    return binascii.hexlify(hashlib.sha256((salt + pin).encode()).digest()).decode()


def _same(a, b):
    """Compare without an early exit, so timing does not reveal how much matched."""
    if len(a) != len(b):
        return False
    d = 0
    for k in range(len(a)):
        d |= ord(a[k]) ^ ord(b[k])
    return d == 0


def valid(pin):
    return isinstance(pin, str) and 4 <= len(pin) <= 8 and pin.isdigit()


class Pin(Lockout):
    FREE = _FREE
    FIRST_S = _BASE_S
    MAX_S = _MAX_S

    def __init__(self, meter):
        self._m = meter
        b = meter.board
        Lockout.__init__(self, b)
        self._path = b.root + "/pinlock"
        self.session = None
        self._seen = 0          # ticks_ms of the session's last use
        self.use(meter.cfg["web.pin_hash"], meter.cfg["web.pin_salt"])
        try:
            with open(self._path) as f:
                s = [int(x) for x in f.read().split()]
            self.lock_restore(s, b.time(), b.rtc_valid())
        except (OSError, ValueError):   # none yet, or unreadable: no lock
            self.unlock()

    def _save(self):
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %d" % tuple(self.lock_state()))
        os.rename(tmp, self._path)

    def use(self, hash_hex, salt):
        self._hash, self._salt = hash_hex, salt

    def enabled(self):
        return bool(self._hash)

    def login(self, pin):
        """-> (session token or None, locked seconds)."""
        lock = self.locked_s()
        if lock:
            return None, lock
        if self._hash and valid(pin) and _same(digest(self._salt, pin), self._hash):
            if self.fails:
                self.unlock()
                self._save()
            self.session = binascii.hexlify(os.urandom(16)).decode()
            self._seen = time.ticks_ms()
            return self.session, 0
        self.fail(self.b.time())
        self._save()
        self._m.events.emit("pin_rejected", fails=self.fails)
        return None, self.locked_s()

    def check(self, req):
        """True when the request carries the live session token (header, not a cookie,
        so another web page cannot ride on it)."""
        s = self.session
        if not s:
            return False
        if time.ticks_diff(time.ticks_ms(), self._seen) > _IDLE_MS:
            self.session = None
            return False
        h = req.headers.get("Authorization", "")
        if h[:7] != "Bearer " or not _same(h[7:], s):
            return False
        self._seen = time.ticks_ms()
        return True

    def logout(self):
        self.session = None
