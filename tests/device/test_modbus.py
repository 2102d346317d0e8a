"""CRC-16/MODBUS and PZEM-004T framing (prepay/modbus.py) against published frames,
under CPython (the simulator's runtime) and the unix-port MicroPython (the firmware's)."""
import pytest

import upy
from prepay import modbus as mb


# Frames as published for the PZEM-004T v3 (manual and widely used drivers).
FRAMES = {
    "read1": "01 04 00 00 00 0a 70 0d",     # read the 10 input registers of slave 1
    "readF8": "f8 04 00 00 00 0a 64 64",    # the same through the general address
    "reset1": "01 42 80 11",                # reset energy, slave 1
    "resetF8": "f8 42 c2 41",               # reset energy, general address
}


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


def test_crc_check_value():
    # the CRC catalogue's check value for CRC-16/MODBUS
    assert mb.crc16(b"123456789", 9) == 0x4B37
    assert mb.crc16(b"xx123456789", 9, start=2) == 0x4B37


@pytest.mark.parametrize("name", FRAMES)
def test_requests_match_published_bytes(name):
    buf = bytearray(8)
    if name.startswith("read"):
        n = mb.read_request(buf, 1 if name == "read1" else 0xF8, mb.FC_READ_INPUT, 0, 10)
    else:
        n = mb.reset_request(buf, 1 if name == "reset1" else 0xF8)
    assert bytes(buf[:n]) == h(FRAMES[name])
    assert mb.crc_ok(h(FRAMES[name]), n)


def test_write_request_layout():
    buf = bytearray(8)
    assert mb.write_request(buf, 0xF8, mb.HREG_ADDRESS, 5) == 8
    assert buf[:6] == h("f8 06 00 02 00 05")          # register and value big-endian
    assert mb.crc_ok(buf, 8)
    mb.write_request(buf, 1, mb.HREG_ALARM_W, 2300)
    assert buf[:6] == h("01 06 00 01 08 fc")


def answer(values, addr=1):
    b = bytearray(25)
    b[0], b[1], b[2] = addr, 4, 20
    for k, v in enumerate(values):
        b[3 + 2 * k], b[4 + 2 * k] = v >> 8, v & 0xFF
    mb.put_crc(b, 23)
    return b


def test_32bit_values_are_low_word_first():
    # current 0x0001_04D2 mA = 66.77 A: low word 0x04D2 first, then the high word 0x0001
    b = answer([2301, 0x04D2, 0x0001, 0, 0, 0xFFFF, 0x0098, 500, 92, 0])
    assert mb.u32(b, 5) == 0x104D2
    assert mb.u32(b, 13) == 0x98FFFF
    assert mb.u16(b, 3) == 2301


GOOD = answer([2301, 1234, 0, 2839, 0, 5678, 1, 500, 92, 0])


def exc_frame(code=2, addr=1, fc=4):
    b = bytearray([addr, fc | 0x80, code, 0, 0])
    mb.put_crc(b, 3)
    return b


@pytest.mark.parametrize("frame,n,expect", [
    (GOOD, 25, mb.OK),
    (GOOD, 0, mb.TIMEOUT),
    (GOOD, 24, mb.SHORT),                                    # last byte never came
    (GOOD[:24] + bytes([GOOD[24] ^ 1]), 25, mb.CRC),         # one bit flipped
    (bytes([2]) + GOOD[1:], 25, mb.GARBAGE),                 # another slave's address
    (bytes([1, 3]) + GOOD[2:], 25, mb.GARBAGE),              # wrong function
    (bytes([1, 4, 18]) + GOOD[3:], 25, mb.GARBAGE),          # wrong byte count
    (exc_frame(), 5, mb.EXCEPTION),
    (exc_frame(), 4, mb.SHORT),
])
def test_classify(frame, n, expect):
    assert mb.NAMES[mb.classify(bytearray(frame), n, 1, mb.FC_READ_INPUT, 25)] == mb.NAMES[expect]


def test_need_stops_early_on_garbage_and_exceptions():
    assert mb.need(b"\x07", 1, 1, 4, 25) == 0
    assert mb.need(b"\x01\x84", 2, 1, 4, 25) == mb.LEN_EXC
    assert mb.need(b"\x01\x04", 2, 1, 4, 25) == 25
    # the general address: the PZEM may answer with 0xF8 or its own address
    assert mb.need(b"\x05", 1, 0xF8, 6, 8) == 8
    assert mb.need(b"\xf8", 1, 0xF8, 6, 8) == 8


def test_echo_answers_must_repeat_the_request():
    req = bytearray(8)
    mb.write_request(req, 1, mb.HREG_ALARM_W, 100)
    assert mb.classify(bytearray(req), 8, 1, 6, 8, req) == mb.OK
    other = bytearray(8)
    mb.write_request(other, 1, mb.HREG_ALARM_W, 101)          # valid CRC, wrong value
    assert mb.classify(other, 8, 1, 6, 8, req) == mb.GARBAGE


def test_same_bytes_under_micropython():
    """The firmware's runtime builds the same frames and parses the same values."""
    [got] = upy.run_json("modbus_vectors.py")
    assert got["check"] == 0x4B37
    for name, frame in FRAMES.items():
        assert got[name] == frame.replace(" ", ""), name
    buf = bytearray(8)
    mb.write_request(buf, 0xF8, mb.HREG_ADDRESS, 5)
    assert got["addr5"] == buf.hex()
    assert got["answer"] == GOOD.hex()
    assert got["u32"] == [1234, 2839, 5678 + (1 << 16)]
    assert got["classify"] == "ok"
