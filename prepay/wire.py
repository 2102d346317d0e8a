# Reading what a meter sends: topic parsing and record-batch decoding with every check the
# contract (docs/protocol.md, prepay/protocol.py) sets. Used by the gateway's ingest; it runs
# on MicroPython too, but the meter never imports it (it only writes batches), which keeps
# these functions out of the meter's RAM.
import struct
from binascii import crc32

from prepay import record
from prepay.settings import valid_id
from prepay.protocol import (ProtocolError, VER, UP, DOWN, CMD, REC_HDR, REC_FMT, REC_MAX)

_FMT_CRC = record.FMT + "I"    # a record's fields, then the CRC of the first BODY bytes


def parse_topic(prefix, t):
    """(meter, leaf) for <prefix>/<meter>/<leaf>, (meter, "cmd/<kind>") for commands."""
    if isinstance(t, (bytes, bytearray)):
        t = t.decode()
    parts = t.split("/")
    if len(parts) < 3 or parts[0] != prefix:
        raise ProtocolError("topic not under %s/<meter>/" % prefix)
    meter = parts[1]
    if not valid_id(meter):
        raise ProtocolError("bad meter id in topic")
    if len(parts) == 3 and parts[2] in UP:
        return meter, parts[2]
    if len(parts) == 4 and parts[2] == CMD and parts[3] in DOWN:
        return meter, CMD + "/" + parts[3]
    raise ProtocolError("unknown topic leaf")


def decode_batch(payload):
    """(flags, [record FIELDS tuples]) of a rec payload; ProtocolError says what is wrong.
    Seqs must strictly increase within a batch; every record's CRC must match."""
    n = len(payload)
    if n < REC_HDR:
        raise ProtocolError("rec: shorter than header")
    ver, flags, count = struct.unpack_from(REC_FMT, payload, 0)
    if ver != VER:
        raise ProtocolError("rec: unsupported version %d" % ver)
    if count == 0 or count > REC_MAX:
        raise ProtocolError("rec: bad count %d" % count)
    if n != REC_HDR + count * record.SIZE:
        raise ProtocolError("rec: length %d does not match count %d" % (n, count))
    out = []
    last = -1
    mv = memoryview(payload)
    for k in range(count):
        # one unpack for the fields and their CRC (record.unpack checks and unpacks in two
        # steps: a third of the gateway's decode time on single-record messages)
        off = REC_HDR + k * record.SIZE
        r = struct.unpack_from(_FMT_CRC, payload, off)
        if crc32(mv[off:off + record.BODY]) & 0xFFFFFFFF != r[10]:
            raise ProtocolError("rec: record %d bad CRC" % k)
        r = r[:10]
        if r[0] <= last:
            raise ProtocolError("rec: seq not increasing at record %d" % k)
        if r[0] == 0:
            raise ProtocolError("rec: seq 0 is invalid")
        if r[9] & record.F_GAP and not 0 < r[2] < r[0]:
            raise ProtocolError("rec: gap marker range invalid")
        last = r[0]
        out.append(r)
    return flags, out


def gap_range(r):
    """(lo, hi) of seqs a gap marker record declares dropped, else None."""
    if r[9] & record.F_GAP:
        return r[2], r[0] - 1
    return None
