# OpenPAYGO Token codec (spec v2.3: standard 9-digit and extended 12-digit tokens, plus
# their restricted 1-4 digit-set forms), written once for the meter (MicroPython) and the
# gateway's vending (CPython). Interoperates bit for bit with the `openpaygo` reference.
#
# How a token works: a secret 16-byte key and a starting code (9 digits) are shared by
# meter and vendor. The last 3 digits (6 for extended) of a token carry the value, offset
# by the starting code's last digits. The other digits authenticate it: they are the
# token-chain code after `count` SipHash steps from the starting code (with the value
# digits put in). Count parity gives the type: even = ADD, odd = SET/DISABLE/COUNTER_SYNC.
#
# Public API (docs/tokens.md):
#   ADD, SET, DISABLE, COUNTER_SYNC              token types (reference TokenType numbers)
#   Codec(key, starting_code=None, extended=False, max_jump=64)
#     .encode(value, count, mode=ADD, restricted=False) -> str
#     .vend(value, last_count, mode=ADD, restricted=False) -> (token, count)
#     .decode(token, last_count, used) -> (status, value, mode, count)
#   next_count(last_count, mode), apply(last_count, used, count, mode) -> (last, used)
#   starting_code_for(key), parse_key(hex_or_bytes)
# Decode cost: the chain must be walked from count 0, so one decode is up to
# last_count + max_jump + 1 SipHash steps (+36 for a counter-sync value). On MicroPython a
# step runs as a viper kernel (prepay/sipstep.py); the pure code is the reference.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from prepay.siphash import hash8, key_words, siphash24

import sys

_vstep = None
if sys.implementation.name == "micropython":
    # the chain step as a viper kernel (prepay/sipstep.py): ~90x faster than bytecode
    from array import array
    from prepay.sipstep import step as _vstep

ADD = const(1)
SET = const(2)
DISABLE = const(3)
COUNTER_SYNC = const(4)

# decode status
OK = const(0)
INVALID = const(1)   # not a token for this meter (format or authentication)
USED = const(2)      # authentic, and already entered (in the used-count memory)
OLD = const(3)       # authentic, but older than the counter window allows

MAX_JUMP = const(64)          # reference MAX_TOKEN_JUMP: how far ahead a count may be
SYNC_JUMP = const(100)        # reference MAX_TOKEN_JUMP_COUNTER_SYNC
OLDER = const(16)             # reference MAX_UNUSED_OLDER_TOKENS: unused ADD tokens still OK
USED_MASK = const(0x1FFFF)    # bit i = count (last_count - i) used, i in 0..OLDER
_MAX_STD = const(995)         # reference MAX_ACTIVATION_VALUE
_DISABLE_V = const(998)
_SYNC_V = const(999)
_MAX_EXT = const(999999)
_M32 = const(0xFFFFFFFF)
_STD_TOP = const(999999999)
_STD_FOLD = const(73741825)      # 2**30 - 1 - 999999998
_EXT_TOP = 999999999999          # > 2**30: plain ints, not const, for 32-bit ports
_EXT_FOLD = 99511627777


def parse_key(key):
    """32 hex digits (or 16 raw bytes) -> 16 bytes. ValueError with the reason."""
    if isinstance(key, (bytes, bytearray)):
        if len(key) != 16:
            raise ValueError("token key must be 16 bytes")
        return bytes(key)
    if type(key) is not str or len(key) != 32:
        raise ValueError("token key must be 32 hexadecimal digits")
    try:
        return bytes(int(key[i:i + 2], 16) for i in range(0, 32, 2))
    except ValueError:
        raise ValueError("token key must be 32 hexadecimal digits")


def _fold_std(h):
    """64-bit SipHash -> 9-digit code: xor halves, take bits 2..31, fold into 10**9."""
    t = (((h >> 32) ^ h) & _M32) >> 2
    return t - _STD_FOLD if t > _STD_TOP else t


def _fold_ext(h):
    """64-bit SipHash -> 12-digit code: bits 24..63, fold into 10**12."""
    t = h >> 24
    return t - _EXT_FOLD if t > _EXT_TOP else t


def _bswap32(x):
    return ((x & 0xFF) << 24) | ((x >> 8 & 0xFF) << 16) | ((x >> 16 & 0xFF) << 8) | (x >> 24 & 0xFF)


def starting_code_for(key):
    """The reference's default starting code: SipHash(key, key) folded to 9 digits."""
    return _fold_std(siphash24(key, key))


def next_count(last_count, mode):
    """Count the vendor uses for the next token of `mode` (ADD even, others odd)."""
    odd = last_count & 1
    if mode == ADD:
        return last_count + (1 if odd else 2)
    return last_count + (2 if odd else 1)


def apply(last_count, used, count, mode):
    """Token memory after accepting `count`: (last_count, used bitmask). A non-ADD token
    marks every count in the window used, as the reference does, so older unused ADD
    tokens can no longer be entered after a SET, DISABLE or COUNTER_SYNC."""
    if count > last_count:
        shift = count - last_count
        used = (used << shift) & USED_MASK if shift <= OLDER else 0
        last_count = count
    if mode != ADD:
        return last_count, USED_MASK
    return last_count, used | (1 << (last_count - count))


def _from_restricted(s):
    n = 0
    for ch in s:
        n = (n << 2) | (ord(ch) - 49)   # digits 1..4 carry 2 bits each
    return n


def _to_restricted(n, digits):
    out = []
    for i in range(digits - 1, -1, -1):
        out.append(chr(49 + ((n >> (2 * i)) & 3)))
    return "".join(out)


class Codec:
    """One meter's token codec. key: 16 bytes or 32 hex digits. starting_code None or 0
    means the reference default derived from the key. extended selects the 12-digit
    variant (values up to 999999); standard tokens carry values 0..995."""

    def __init__(self, key, starting_code=None, extended=False, max_jump=MAX_JUMP):
        key = parse_key(key)
        self.k0, self.k1 = key_words(key)
        if not starting_code:
            starting_code = starting_code_for(key)
        if not 0 <= starting_code <= _STD_TOP:
            raise ValueError("starting code must be 0..999999999")
        self.start = starting_code
        self.extended = extended
        self.off = 1000000 if extended else 1000
        self.max_jump = max_jump
        self.digits = 12 if extended else 9
        if _vstep:
            self._kv = array("I", (self.k0 & _M32, self.k0 >> 32, self.k1 & _M32, self.k1 >> 32))
            self._io = array("I", (0, 0))

    def _next(self, code):
        """One step along the token chain."""
        if _vstep:
            io = self._io
            if not self.extended:
                io[0] = code
                return _vstep(self._kv, io, 0)
            io[0] = code & _M32
            io[1] = code >> 32
            _vstep(self._kv, io, 1)
            return (io[1] << 32) | io[0]
        if self.extended:
            # reference hashes the code as 8 big-endian bytes: our word is its byte swap
            m = (_bswap32(code & _M32) << 32) | _bswap32(code >> 32)
            return _fold_ext(hash8(self.k0, self.k1, m))
        s = _bswap32(code)                 # reference hashes 4 BE bytes, twice
        return _fold_std(hash8(self.k0, self.k1, s | (s << 32)))

    # ---- vendor side
    def encode(self, value, count, mode=ADD, restricted=False):
        """The token string for `value` at exactly `count` (parity must suit mode)."""
        if self.extended:
            if mode not in (ADD, SET):
                raise ValueError("extended tokens carry ADD or SET only")
            vmax = _MAX_EXT
        else:
            vmax = _MAX_STD
        if mode == DISABLE:
            value = _DISABLE_V
        elif mode == COUNTER_SYNC:
            value = _SYNC_V
        elif mode not in (ADD, SET):
            raise ValueError("unknown token mode %r" % (mode,))
        elif type(value) is not int or not 0 <= value <= vmax:
            raise ValueError("token value must be an integer 0..%d" % vmax)
        if type(count) is not int or count < 1 or (count & 1) != (0 if mode == ADD else 1):
            raise ValueError("count %r: ADD needs an even count >= 2, other modes an odd one"
                             % (count,))
        off = self.off
        base = (self.start % off + value) % off
        code = self.start - self.start % off + base
        for _ in range(count):
            code = self._next(code)
        code = code - code % off + base
        if restricted:
            return _to_restricted(code, 20 if self.extended else 15)
        return ("%012d" if self.extended else "%09d") % code

    def vend(self, value, last_count, mode=ADD, restricted=False):
        """Next token after last_count, as the reference generate_token: (token, count)."""
        c = next_count(last_count, mode)
        return self.encode(value, c, mode, restricted), c

    # ---- meter side
    def parse(self, token):
        """Token string -> code int, or None if its format is wrong for this meter.
        Spaces and dashes are ignored; plain digits or the restricted 1-4 form."""
        s = token.replace(" ", "").replace("-", "") if type(token) is str else ""
        if not s.isdigit():
            return None
        if len(s) == self.digits:
            return int(s)
        if len(s) == (20 if self.extended else 15):
            for ch in s:
                if ch not in "1234":
                    return None
            return _from_restricted(s)
        return None

    def decode(self, token, last_count, used):
        """-> (status, value, mode, count). status OK means the caller may credit it and
        must then store apply(last_count, used, count, mode). Nothing is changed here."""
        code = self.parse(token) if type(token) is str else token
        if code is None:
            return INVALID, None, None, None
        off = self.off
        base = code % off
        high = code // off
        value = (base - self.start % off) % off
        top = last_count + self.max_jump
        if not self.extended:
            if value == _SYNC_V:
                top = last_count + SYNC_JUMP
            elif _MAX_STD < value < _DISABLE_V:
                return INVALID, None, None, None  # no token type carries 996 or 997
        seen = INVALID
        cur = self.start - self.start % off + base
        for count in range(top + 1):
            if cur // off == high:
                mode = self._mode(count, value)
                if mode:
                    st = self._check(count, mode, last_count, used)
                    if st == OK:
                        return OK, value, mode, count
                    if seen != USED:
                        seen = st
            cur = self._next(cur)
        return seen, None, None, None

    def _mode(self, count, value):
        if self.extended:
            return SET if count & 1 else ADD
        if count & 1:
            return COUNTER_SYNC if value == _SYNC_V else DISABLE if value == _DISABLE_V else SET
        return 0 if value > _MAX_STD else ADD   # 998/999 never ride an even (ADD) count

    def _check(self, count, mode, last_count, used):
        back = last_count - count
        if mode == COUNTER_SYNC and count > last_count - self.max_jump:
            return USED if 0 <= back <= OLDER and used >> back & 1 else OK
        if back < 0:
            return OK
        if back <= OLDER and used >> back & 1:
            return USED
        if mode == ADD and back < OLDER:
            return OK   # an unused, slightly older ADD token (tokens bought out of order)
        return OLD
