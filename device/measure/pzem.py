# PZEM-004T v3 front-end: Modbus-RTU at 9600 8N1 over a UART (boards/ gives the UART:
# machine.UART on the ESP32, a pty to host_tools.pzem_sim on unix_sim).
#
# read() fills a measure.reading.Reading in place. Every bad answer (CRC error, short or
# garbage frame, timeout, exception response) is counted by kind and never raises; after
# stale_after consecutive failures the reading is marked STALE so old numbers are never
# shown as live. A good read sets OK and clears reading.fails.
#
# Power factor: the PZEM reports |PF| (0.00-1.00) with no lead/lag sign, so reading.pf is
# always >= 0 here (shown as lagging, the usual household case). Only the analog
# front-end can tell leading from lagging.
#
# Timing: the UART answers in real time, so waits use time.ticks_ms and short
# asyncio.sleep_ms polls (never board.sleep_ms, which is accelerated meter time) and never
# block the event loop. Buffers are allocated once; a read allocates only the float
# values it stores and the coroutine frames.
import time
import asyncio
from micropython import const

from prepay import modbus as mb
from measure.reading import OK, STALE

_POLL_MS = const(2)     # real-time poll interval while waiting for bytes
_QUIET_MS = const(10)   # line silence that ends a broken frame (> 3.5 chars at 9600)
_READ_LEN = const(25)   # answer to reading the 10 input registers
_MAX_FLUSH = const(64)  # bound on bytes discarded without waiting


class Pzem:
    def __init__(self, uart, board, address=1, timeout_ms=200, stale_after=3):
        if not mb.ADDR_MIN <= address <= mb.ADDR_MAX:
            raise ValueError("pzem address must be 1..247")
        self.uart = uart
        self.board = board
        self.address = address
        self.timeout_ms = timeout_ms
        self.stale_after = max(1, stale_after)
        self.last_exception = 0           # code of the last exception response
        self._n = [0, 0, 0, 0, 0, 0]      # counts, indexed by mb.OK..mb.EXCEPTION
        self._rd = bytearray(mb.LEN_READ_REQ)  # the read request, built once per address
        self._tx = bytearray(mb.LEN_WRITE)     # write/holding-read requests
        self._txr = bytearray(mb.LEN_RESET)    # reset-energy request
        self._rx = bytearray(mb.LEN_MAX)
        self._b1 = bytearray(1)
        self._busy = False                # one transaction on the wire at a time
        mb.read_request(self._rd, address, mb.FC_READ_INPUT, mb.REG_VOLTAGE, mb.N_INPUT)

    def counters(self):
        n = self._n
        return {"ok": n[0], "crc": n[1], "short": n[2], "garbage": n[3], "timeout": n[4],
                "exception": n[5]}

    async def read(self, r):
        """Read V, I, P, energy, Hz, PF and alarm into Reading r; return True if fresh."""
        if await self._xfer(self._rd, self.address, mb.FC_READ_INPUT, _READ_LEN) != mb.OK:
            r.fails += 1
            if r.fails >= self.stale_after:
                r.status = STALE
            return False
        b = self._rx  # data starts at byte 3; see prepay/modbus.py for the register map
        r.v = mb.u16(b, 3) / 10
        r.i = mb.u32(b, 5) / 1000
        r.p = mb.u32(b, 9) / 10
        r.register_wh = mb.u32(b, 13)
        r.hz = mb.u16(b, 17) / 10
        r.pf = mb.u16(b, 19) / 100
        r.alarm = mb.u16(b, 21) != 0
        r.s = r.v * r.i
        r.status = OK
        r.fails = 0
        return True

    async def reset_energy(self):
        """Zero the PZEM's energy register (function 0x42). True if the PZEM confirmed."""
        mb.reset_request(self._txr, self.address)
        return await self._xfer(self._txr, self.address, mb.FC_RESET_ENERGY,
                                mb.LEN_RESET) == mb.OK

    async def set_address(self, new):
        """Give the (single) PZEM on the bus slave address new, via the general address."""
        if not mb.ADDR_MIN <= new <= mb.ADDR_MAX:
            raise ValueError("pzem address must be 1..247")
        mb.write_request(self._tx, mb.ADDR_GENERAL, mb.HREG_ADDRESS, new)
        if await self._xfer(self._tx, mb.ADDR_GENERAL, mb.FC_WRITE_SINGLE,
                            mb.LEN_WRITE) != mb.OK:
            return False
        self.address = new
        mb.read_request(self._rd, new, mb.FC_READ_INPUT, mb.REG_VOLTAGE, mb.N_INPUT)
        return True

    async def set_alarm_threshold(self, watts):
        """Set the power alarm threshold (holding register 0x0001, 1 W)."""
        if not 0 <= watts <= 0xFFFF:
            raise ValueError("alarm threshold must be 0..65535 W")
        mb.write_request(self._tx, self.address, mb.HREG_ALARM_W, watts)
        return await self._xfer(self._tx, self.address, mb.FC_WRITE_SINGLE,
                                mb.LEN_WRITE) == mb.OK

    async def read_settings(self):
        """(alarm threshold W, address) from the holding registers, or None on failure."""
        mb.read_request(self._tx, self.address, mb.FC_READ_HOLDING, mb.HREG_ALARM_W,
                        mb.N_HOLDING)
        if await self._xfer(self._tx, self.address, mb.FC_READ_HOLDING,
                            mb.answer_len(mb.FC_READ_HOLDING, mb.N_HOLDING)) != mb.OK:
            return None
        return mb.u16(self._rx, 3), mb.u16(self._rx, 5)

    # ---- one request/answer on the wire (one coroutine frame: it is allocated per read)
    async def _xfer(self, tx, addr, fc, expect):
        while self._busy:
            await asyncio.sleep_ms(_POLL_MS)
        self._busy = True
        u, rx, b1 = self.uart, self._rx, self._b1
        got = 0
        try:
            for _ in range(_MAX_FLUSH):  # drop late bytes of an earlier answer
                if not (u.any() and u.readinto(b1, 1)):
                    break
            t0 = time.ticks_ms()
            if u.write(tx):
                while True:
                    if u.any() and u.readinto(b1, 1):
                        rx[got] = b1[0]
                        got += 1
                        if got >= mb.need(rx, got, addr, fc, expect):
                            break   # complete, or garbage (need() == 0)
                    elif time.ticks_diff(time.ticks_ms(), t0) >= self.timeout_ms:
                        break
                    else:
                        await asyncio.sleep_ms(_POLL_MS)
            res = mb.classify(rx, got, addr, fc, expect,
                              tx if fc == mb.FC_WRITE_SINGLE or fc == mb.FC_RESET_ENERGY else None)
            if res == mb.EXCEPTION:
                self.last_exception = rx[2]
            elif res == mb.GARBAGE or res == mb.CRC:
                await self._drain(t0)
        except OSError:   # a UART that vanished: no answer
            res = mb.TIMEOUT
        finally:
            self._busy = False
        self._n[res] += 1
        return res

    async def _drain(self, t0):
        """Discard the rest of a broken frame: until the line is quiet, within the timeout."""
        u, b1 = self.uart, self._b1
        quiet = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), quiet) < _QUIET_MS:
            if time.ticks_diff(time.ticks_ms(), t0) >= 2 * self.timeout_ms:
                return
            if u.any() and u.readinto(b1, 1):
                quiet = time.ticks_ms()
            else:
                await asyncio.sleep_ms(_POLL_MS)
