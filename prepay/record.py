# The interval record: one fixed-size binary layout for the meter's flash journal and for
# the MQTT record messages, decoded by the gateway with the same code. Runs on MicroPython
# and CPython. Layout (little-endian, 36 bytes), see docs/protocol.md:
#   seq u32 | t u32 UTC s (interval end) | wh u32 cumulative Wh | avg_dw u32 avg W x10
#   v_dv u16 V x10 | i_ma u32 mA | pf_m i16 PF x1000 (+lag, -lead) | hz_c u16 Hz x100
#   credit i32 minor units (negative = debt) | flags u16 | crc32 u32 over the first 32 bytes
import struct
from binascii import crc32

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

FMT = "<IIIIHIhHiH"
BODY = const(32)
SIZE = const(36)

# flags
F_UNSYNCED = const(0x0001)   # meter clock not yet synced: t is meter-local guess
F_STALE = const(0x0002)      # front-end failed during the interval
F_RELAY_OPEN = const(0x0004)  # supply was cut at interval end
F_GAP = const(0x0008)        # gap marker: records [wh .. seq-1] were dropped (journal full)
F_ANOMALY = const(0x0010)    # energy counter anomaly (reset/jump) during the interval
F_FRIENDLY = const(0x0020)   # friendly-credit window active
F_EMERGENCY = const(0x0040)  # emergency credit in use
F_BOOT = const(0x0080)       # first record after a restart (power loss)

FIELDS = ("seq", "t", "wh", "avg_dw", "v_dv", "i_ma", "pf_m", "hz_c", "credit", "flags")


def pack_into(buf, off, seq, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c, credit, flags):
    """Write one record with its CRC into buf at off (no allocation beyond struct's)."""
    struct.pack_into(FMT, buf, off, seq, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c, credit, flags)
    struct.pack_into("<I", buf, off + BODY, crc32(memoryview(buf)[off:off + BODY]) & 0xFFFFFFFF)


def pack(*fields):
    buf = bytearray(SIZE)
    pack_into(buf, 0, *fields)
    return buf


def valid(buf, off=0):
    """True if the record at off has a correct CRC (a torn or corrupt write fails)."""
    mv = memoryview(buf)
    if len(mv) < off + SIZE:
        return False
    return crc32(mv[off:off + BODY]) & 0xFFFFFFFF == struct.unpack_from("<I", mv, off + BODY)[0]


def unpack(buf, off=0):
    """Tuple of FIELDS, or None if the CRC does not match."""
    if not valid(buf, off):
        return None
    return struct.unpack_from(FMT, buf, off)
