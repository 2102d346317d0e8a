# The journal's boot scan (device/journal/journal.py Journal._scan loads it once and drops
# it): what each segment file holds. A segment's base seq comes from its header, or from its
# first good record if the header is bad. It only reads; the journal keeps what it returns.
import os
import struct
from binascii import crc32

from micropython import const

from prepay import record

_HDR = const(16)
_SZ = const(36)
_MAGIC = b"PMJ1"


def segments(path, nseg, hdr, buf):
    """-> ([base seq], [records held], torn, bad headers) of segment files path(0..nseg-1),
    base -1 for one holding nothing readable; torn counts those not a whole number of
    records long. `hdr` and `buf` are the journal's header and record buffers."""
    bases, counts, torn, bad = [-1] * nseg, [0] * nseg, 0, 0
    for i in range(nseg):
        try:
            size = os.stat(path(i))[6]
            with open(path(i), "rb") as f:
                base, bad_hdr = _base(f, size, hdr, buf)
        except OSError:
            continue
        bad += bad_hdr
        if base < 0:
            continue
        bases[i] = base
        counts[i] = (size - _HDR) // _SZ
        if (size - _HDR) % _SZ:
            torn += 1
    return bases, counts, torn, bad


def _base(f, size, hdr, buf):
    """(base seq, 1 if the header was bad): from the header, else from the first good
    record; base -1 if neither."""
    if size >= _HDR and f.readinto(hdr) == _HDR and hdr[:4] == _MAGIC:
        base, crc = struct.unpack_from("<I4xI", hdr, 4)
        if crc32(memoryview(hdr)[:12]) & 0xFFFFFFFF == crc:
            return base, 0
    for k in range(max(0, (size - _HDR) // _SZ)):
        f.seek(_HDR + k * _SZ)
        if f.readinto(buf) == _SZ and record.valid(buf):
            return struct.unpack_from("<I", buf, 0)[0] - k, 1
    return -1, 1
