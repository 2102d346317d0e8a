# The framing module under MicroPython: print the frames it builds and how it classifies
# answers, for tests/device/test_modbus.py to compare with CPython and the published bytes.
import json
from prepay import modbus as mb

b8 = bytearray(8)
b4 = bytearray(4)
out = {"check": mb.crc16(b"123456789", 9)}
mb.read_request(b8, 1, mb.FC_READ_INPUT, 0, 10)
out["read1"] = bytes(b8).hex()
mb.read_request(b8, 0xF8, mb.FC_READ_INPUT, 0, 10)
out["readF8"] = bytes(b8).hex()
mb.reset_request(b4, 1)
out["reset1"] = bytes(b4).hex()
mb.reset_request(b4, 0xF8)
out["resetF8"] = bytes(b4).hex()
mb.write_request(b8, 0xF8, mb.HREG_ADDRESS, 5)
out["addr5"] = bytes(b8).hex()
ans = bytearray(25)
ans[0], ans[1], ans[2] = 1, 4, 20
for k, v in enumerate((2301, 1234, 0, 2839, 0, 5678, 1, 500, 92, 0)):
    ans[3 + 2 * k], ans[4 + 2 * k] = v >> 8, v & 0xFF
mb.put_crc(ans, 23)
out["answer"] = bytes(ans).hex()
out["u32"] = [mb.u32(ans, 5), mb.u32(ans, 9), mb.u32(ans, 13)]
out["classify"] = mb.NAMES[mb.classify(ans, 25, 1, 4, 25)]
print(json.dumps(out))
