# Journal boot scan and tail repair (device/journal/journal.py loads this at boot, or after
# a failed write, and unloads it again: it is not needed while metering).
# A segment's base seq comes from its header, or from its first good record if the header
# is bad; the newest segment is the head; an incomplete or CRC-failing tail of the head is
# cut off by copying the good prefix and renaming over the file.
import os
import struct
from binascii import crc32

from micropython import const

from prepay import record

_HDR = const(16)
_SZ = const(36)
_MAGIC = b"PMJ1"
_COPY = const(16)              # records per chunk when repairing a segment


def scan(j, seq_floor):
    for i in range(j.nseg):
        try:
            size = os.stat(j._path(i))[6]
            with open(j._path(i), "rb") as f:
                base = _read_base(j, f, size)
        except OSError:
            continue
        if base < 0:
            continue
        j._base[i] = base
        j._cnt[i] = (size - _HDR) // _SZ
        if (size - _HDR) % _SZ:
            j.torn += 1
    best = -1
    for i in range(j.nseg):
        if j._base[i] > best:
            best, j.head = j._base[i], i
    if best < 0:
        j._new_segment(0, seq_floor)
        return
    repair_tail(j, j.head)
    end = j._base[j.head] + j._cnt[j.head]
    j.seq = max(end, seq_floor)
    if j.seq > end:
        j._advance()   # the saved seq is ahead of the files (journal wiped): never reuse seqs


def _read_base(j, f, size):
    """Segment base seq from the header, else from its first good record; -1 if none."""
    h = j._hdr
    if size >= _HDR and f.readinto(h) == _HDR and h[:4] == _MAGIC:
        base, crc = struct.unpack_from("<I4xI", h, 4)
        if crc32(memoryview(h)[:12]) & 0xFFFFFFFF == crc:
            return base
    j.bad_hdr += 1
    buf = j._buf
    for k in range(max(0, (size - _HDR) // _SZ)):
        f.seek(_HDR + k * _SZ)
        if f.readinto(buf) == _SZ and record.valid(buf):
            return struct.unpack_from("<I", buf, 0)[0] - k
    return -1


def repair_tail(j, i):
    """Cut an incomplete or bad tail off segment i (copy the good prefix, rename)."""
    p = j._path(i)
    n = j._cnt[i]
    size = os.stat(p)[6]
    buf = j._buf
    with open(p, "rb") as f:
        while n > 0:
            f.seek(_HDR + (n - 1) * _SZ)
            if (f.readinto(buf) == _SZ and record.valid(buf)
                    and struct.unpack_from("<I", buf, 0)[0] == j._base[i] + n - 1):
                break
            n -= 1
            j.torn += 1
    if size == _HDR + n * _SZ:
        return
    tmp = p + ".tmp"
    chunk = bytearray(_SZ * _COPY)
    mv = memoryview(chunk)
    with open(p, "rb") as src, open(tmp, "wb") as dst:
        left = _HDR + n * _SZ
        while left > 0:
            k = src.readinto(mv[:min(left, len(chunk))])
            if not k:
                break
            dst.write(mv[:k])
            left -= k
    os.rename(tmp, p)
    j._cnt[i] = n
