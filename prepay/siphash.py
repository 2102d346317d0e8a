# SipHash-2-4 (Aumasson & Bernstein), the MAC behind OpenPAYGO Token. One source for
# MicroPython (meter) and CPython (gateway): plain integer arithmetic masked to 64 bits.
#
# Cost on a 32-bit MCU: every 64-bit value is a heap "long" there (small ints hold 31
# bits), so one hash of an 8-byte message (8 SipRounds, ~14 ops each, plus masks) makes a
# few hundred short-lived bignum allocations. hash8() is the token codec's only hot path;
# docs/tokens.md gives the measured time per hash and per token decode.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_M = const(0xFFFFFFFFFFFFFFFF)
_C0 = const(0x736F6D6570736575)  # "somepseudorandomlygeneratedbytes"
_C1 = const(0x646F72616E646F6D)
_C2 = const(0x6C7967656E657261)
_C3 = const(0x7465646279746573)
_B8 = const(0x0800000000000000)  # final block of an 8-byte message: length << 56


def key_words(key):
    """16-byte key -> (k0, k1) little-endian 64-bit words."""
    if len(key) != 16:
        raise ValueError("SipHash key must be 16 bytes, got %d" % len(key))
    return int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")


def _rounds(v0, v1, v2, v3, n):
    m = _M
    for _ in range(n):
        v0 = (v0 + v1) & m
        v1 = ((v1 << 13) | (v1 >> 51)) & m
        v1 ^= v0
        v0 = ((v0 << 32) | (v0 >> 32)) & m
        v2 = (v2 + v3) & m
        v3 = ((v3 << 16) | (v3 >> 48)) & m
        v3 ^= v2
        v0 = (v0 + v3) & m
        v3 = ((v3 << 21) | (v3 >> 43)) & m
        v3 ^= v0
        v2 = (v2 + v1) & m
        v1 = ((v1 << 17) | (v1 >> 47)) & m
        v1 ^= v2
        v2 = ((v2 << 32) | (v2 >> 32)) & m
    return v0, v1, v2, v3


def hash8(k0, k1, m):
    """SipHash-2-4 of one 8-byte message given as its little-endian word m."""
    v0, v1, v2, v3 = k0 ^ _C0, k1 ^ _C1, k0 ^ _C2, k1 ^ m ^ _C3
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    return _finish(v0, v1, v2, v3, _B8)


def siphash24(key, data):
    """SipHash-2-4 of any bytes -> 64-bit int (the digest read little-endian)."""
    k0, k1 = key_words(key)
    v0, v1, v2, v3 = k0 ^ _C0, k1 ^ _C1, k0 ^ _C2, k1 ^ _C3
    n = len(data)
    end = n - n % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    return _finish(v0, v1, v2, v3, ((n & 0xFF) << 56) | int.from_bytes(data[end:], "little"))


def _finish(v0, v1, v2, v3, b):
    """The last block `b` (the length byte over the tail) and the finalization -> digest."""
    v3 ^= b
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 2)
    v0 ^= b
    v2 ^= 0xFF
    v0, v1, v2, v3 = _rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3
