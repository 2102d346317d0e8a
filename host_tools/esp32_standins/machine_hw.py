# Stand-in for the ESP32 port's machine.Pin, UART, ADC and RTC (machine.py loads them on
# first use), for the unix port only: never part of a device bundle.
import os
import time

_ROOT = os.getenv("METER_ROOT") or "."


def _hung():
    try:
        return bool(os.stat(_ROOT + "/uart.hang"))
    except OSError:
        return False


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self.id = id
        self._v = 0 if value is None else int(bool(value))
        if id == int(os.getenv("SIM_RELAY_PIN") or 26):
            self._file = _ROOT + "/relay"      # the relay coil, readable by tests
            self._write()
        else:
            self._file = None

    def _write(self):
        if self._file:
            with open(self._file, "w") as f:
                f.write("1" if self._v else "0")

    def value(self, v=None):
        if v is None:
            return self._v
        v = int(bool(v))
        if v != self._v:
            self._v = v
            self._write()

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    __call__ = value


class UART:
    """machine.UART(id, baudrate=, bits=, parity=, stop=, tx=, rx=, timeout=, timeout_char=)
    over the pty <METER_ROOT>/pzem.tty (or $SIM_UART<id>): the unix_sim board's PtyUart,
    which keeps the UART's read semantics (readinto returns None on a timeout)."""

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
                 timeout=0, timeout_char=0, **kw):
        from pty_uart import PtyUart
        path = os.getenv("SIM_UART%d" % id) or _ROOT + "/pzem.tty"
        self._u = PtyUart(path, timeout)
        self.write = self._u.write
        self.any = self._u.any

    def readinto(self, buf, n=None):
        # Test hook, a fault no timeout bounds: while <METER_ROOT>/uart.hang exists, a read
        # never returns (a driver stuck in C), holding the whole event loop.
        while _hung():
            time.sleep_ms(100)
        return self._u.readinto(buf, n)

    def read(self, n=None):
        buf = bytearray(n or 256)
        got = self._u.readinto(buf)
        return bytes(buf[:got]) if got else None


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, *, atten=None):
        self.pin = pin

    def read(self):
        return 2048         # mid-rail: no signal (no analog front-end is simulated here)

    def read_u16(self):
        return 32768


class RTC:
    def datetime(self, dt=None):
        import time as t
        if dt is None:
            tm = t.gmtime()
            return (tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0)
        t.rtc_set(t.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0)))
