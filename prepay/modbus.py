# Modbus-RTU framing for the PZEM-004T v3: CRC-16/MODBUS, request building, response
# classification. One implementation for both runtimes: the firmware driver
# (device/measure/pzem.py, MicroPython) and the host simulator (host_tools/pzem_sim.py,
# CPython) import this same module, so the protocol lives once.
# Everything works in caller-owned buffers: no allocation per frame.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# Function codes (PZEM-004T v3 manual, section "communication protocol")
FC_READ_HOLDING = const(0x03)
FC_READ_INPUT = const(0x04)
FC_WRITE_SINGLE = const(0x06)
FC_CALIBRATE = const(0x41)       # factory only; not used by the driver
FC_RESET_ENERGY = const(0x42)
FC_ERROR = const(0x80)           # set in the function byte of an exception response

# Exception ("abnormal") codes
EXC_ILLEGAL_FUNCTION = const(0x01)
EXC_ILLEGAL_ADDRESS = const(0x02)
EXC_ILLEGAL_DATA = const(0x03)
EXC_SLAVE_ERROR = const(0x04)

# Addresses: 1..247 are slave addresses; 0xF8 is the general address every PZEM answers
# (only usable with a single PZEM on the bus, e.g. to set its address).
ADDR_MIN = const(0x01)
ADDR_MAX = const(0xF7)
ADDR_GENERAL = const(0xF8)

# Input registers (read with 0x04). 32-bit values are two registers, LOW word first.
REG_VOLTAGE = const(0x0000)      # 0.1 V
REG_CURRENT = const(0x0001)      # 0.001 A, 32-bit
REG_POWER = const(0x0003)        # 0.1 W, 32-bit
REG_ENERGY = const(0x0005)       # 1 Wh, 32-bit
REG_FREQUENCY = const(0x0007)    # 0.1 Hz
REG_PF = const(0x0008)           # 0.01, no lead/lag sign
REG_ALARM = const(0x0009)        # 0xFFFF alarm, 0x0000 no alarm
N_INPUT = const(10)
# Holding registers (read 0x03, write 0x06)
HREG_ALARM_W = const(0x0001)     # power alarm threshold, 1 W
HREG_ADDRESS = const(0x0002)     # slave address 1..247
N_HOLDING = const(2)             # registers 0x0001..0x0002

# Frame sizes
LEN_READ_REQ = const(8)          # addr fc reg(2) count(2) crc(2)
LEN_WRITE = const(8)             # request and its echo
LEN_RESET = const(4)             # addr 0x42 crc(2), request and echo
LEN_EXC = const(5)               # addr fc|0x80 code crc(2)
LEN_MAX = const(25)              # read of 10 registers: 3 + 20 + 2

# Classification of a received frame (index into the driver's counters)
OK = const(0)
CRC = const(1)
SHORT = const(2)
GARBAGE = const(3)
TIMEOUT = const(4)
EXCEPTION = const(5)
NAMES = ("ok", "crc", "short", "garbage", "timeout", "exception")


def crc16(buf, n, start=0):
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of buf[start:start+n]."""
    crc = 0xFFFF
    for k in range(start, start + n):
        crc ^= buf[k]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def put_crc(buf, n):
    """Append the CRC of buf[:n] at buf[n], buf[n+1] (low byte first); return n + 2."""
    c = crc16(buf, n)
    buf[n] = c & 0xFF
    buf[n + 1] = c >> 8
    return n + 2


def crc_ok(buf, n):
    """True if the last two of the n bytes are the CRC of the ones before."""
    if n < 3:
        return False
    c = crc16(buf, n - 2)
    return buf[n - 2] == (c & 0xFF) and buf[n - 1] == (c >> 8)


def _put16(buf, k, v):
    buf[k] = (v >> 8) & 0xFF
    buf[k + 1] = v & 0xFF


def u16(buf, k):
    """Big-endian 16-bit register at byte offset k."""
    return (buf[k] << 8) | buf[k + 1]


def u32(buf, k):
    """PZEM 32-bit value at byte offset k: low word first, each word big-endian."""
    return ((buf[k] << 8) | buf[k + 1]) | (((buf[k + 2] << 8) | buf[k + 3]) << 16)


def read_request(buf, addr, fc, reg, count):
    """Build a read (0x03/0x04) request in buf; return its length (8)."""
    buf[0] = addr
    buf[1] = fc
    _put16(buf, 2, reg)
    _put16(buf, 4, count)
    return put_crc(buf, 6)


def write_request(buf, addr, reg, value):
    """Build a write-single-register (0x06) request in buf; return its length (8)."""
    buf[0] = addr
    buf[1] = FC_WRITE_SINGLE
    _put16(buf, 2, reg)
    _put16(buf, 4, value)
    return put_crc(buf, 6)


def reset_request(buf, addr):
    """Build a reset-energy (0x42) request in buf; return its length (4)."""
    buf[0] = addr
    buf[1] = FC_RESET_ENERGY
    return put_crc(buf, 2)


def answer_len(fc, count=0):
    """Length of the normal answer to a request with function fc (count registers)."""
    if fc == FC_READ_INPUT or fc == FC_READ_HOLDING:
        return 5 + 2 * count
    if fc == FC_RESET_ENERGY:
        return LEN_RESET
    return LEN_WRITE


def need(buf, n, addr, fc, expect):
    """Total bytes the answer needs, judging by its first n bytes; 0 if it is already garbage.

    addr/fc are the request's; expect is answer_len() of the request. An answer to the
    general address may carry 0xF8 (the PZEM echoes it) or the module's own address."""
    if n >= 1:
        a = buf[0]
        if a != addr and not (addr == ADDR_GENERAL and ADDR_MIN <= a <= ADDR_MAX):
            return 0
    if n >= 2:
        f = buf[1]
        if f == fc | FC_ERROR:
            return LEN_EXC
        if f != fc:
            return 0
    if n >= 3 and (fc == FC_READ_INPUT or fc == FC_READ_HOLDING) and buf[2] != expect - 5:
        return 0
    return expect


def classify(buf, n, addr, fc, expect, req=None):
    """Classify the n bytes received for a request: OK, CRC, SHORT, GARBAGE, TIMEOUT or
    EXCEPTION. For echo answers (write, reset) pass the request buffer as req: the
    answer must repeat it byte for byte."""
    if n == 0:
        return TIMEOUT
    want = need(buf, n, addr, fc, expect)
    if want == 0 or n > want:
        return GARBAGE
    if n < want:
        return SHORT
    if not crc_ok(buf, n):
        return CRC
    if buf[1] & FC_ERROR:
        return EXCEPTION
    if req is not None:
        for k in range(1, n):   # byte 0 may differ for the general address
            if buf[k] != req[k]:
                return GARBAGE
    return OK
