# unix_sim: the board interface on the MicroPython unix port, with simulated hardware.
# The meter's "flash" is a directory, its UART a pty to host_tools.pzem_sim, its ADC a
# synthesized waveform (adc_sim: from host_tools.adc_feed over the pty <root>/adc.tty
# when that exists, else in-process), and the relay a state file tests can read.
# An accelerated clock (METER_SPEED) lets soak tests run days of meter time in minutes.
# Environment: METER_ROOT (flash dir), METER_SPEED (meter s per real s), METER_EPOCH
# (meter UTC time at first boot; makes the RTC valid), METER_UART (pty path). The WiFi
# radio is the ESP32 stand-in's (host_tools/esp32_standins on the import path).
import os
import time
import asyncio
from micropython import const

NAME = "unix_sim"
SOURCE = "pzem"  # default front-end; config "source" may choose "analog"
SAMPLE_RATE = 4000  # ADC samples/s per channel
ADC_BITS = 12
# Calibration of the simulated analog front-end (counts -> V, A), which adc_sim follows:
# 230 V is ~1084 counts peak, the 2047-count half range is ~51 A peak; V and I are sampled
# at the same instant, so no phase correction (phasecal 1). icreep: 3 counts, three times
# the simulated noise.
CAL = {"vcal": 0.3, "ical": 0.025, "phasecal": 1.0, "icreep": 0.075}

# the simulated meters listen on the host's loopback: the names their page is reached at
_ADDRESSES = ("127.0.0.1", "localhost")
_TICKS_PERIOD = const(1 << 30)
_TICKS_MAX = const((1 << 30) - 1)
_TICKS_HALF = const(1 << 29)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Board:
    def __init__(self):
        self.root = os.getenv("METER_ROOT") or "."
        self.speed = int(os.getenv("METER_SPEED") or "1")
        self._uart = None
        self._adc = None
        self._relay = False
        self._led = False
        self._boot_ms = time.time_ns() // 1000000  # ticks count from here; set_time never moves them
        self._load_clock()
        self._write_relay(False)  # coil de-energised at power-up

    # ---- clock: meter time = epoch0 + (real - real0) * speed, persisted like a battery RTC
    def _load_clock(self):
        path = self.root + "/clock"
        real_ms = time.time_ns() // 1000000
        try:
            with open(path) as f:
                e0, r0, valid = f.read().split()
            self._e0_ms, self._r0_ms, self._rtc_valid = int(e0), int(r0), valid == "1"
        except (OSError, ValueError):
            env = os.getenv("METER_EPOCH")
            self._e0_ms = int(env) * 1000 if env else real_ms
            self._r0_ms = real_ms
            self._rtc_valid = bool(env)
            self._save_clock()

    def _save_clock(self):
        tmp = self.root + "/clock.tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %d" % (self._e0_ms, self._r0_ms, 1 if self._rtc_valid else 0))
        os.rename(tmp, self.root + "/clock")

    def _meter_ms(self):
        return self._e0_ms + (time.time_ns() // 1000000 - self._r0_ms) * self.speed

    def ticks_ms(self):
        return ((time.time_ns() // 1000000 - self._boot_ms) * self.speed) & _TICKS_MAX

    @staticmethod
    def ticks_diff(a, b):
        return ((a - b + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF

    @staticmethod
    def ticks_add(a, d):
        return (a + d) & _TICKS_MAX

    async def sleep_ms(self, ms):
        """Sleep ms of meter time."""
        await asyncio.sleep_ms(max(0, ms // self.speed))

    def time(self):
        """UTC epoch seconds from the (simulated) RTC."""
        return self._meter_ms() // 1000

    def rtc_valid(self):
        return self._rtc_valid

    def set_time(self, epoch):
        real_ms = time.time_ns() // 1000000
        self._e0_ms, self._r0_ms, self._rtc_valid = epoch * 1000, real_ms, True
        self._save_clock()

    # ---- relay (the coil is a file so tests can read it), LED
    def _write_relay(self, closed):
        with open(self.root + "/relay", "w") as f:
            f.write("1" if closed else "0")

    def relay(self, closed):
        closed = bool(closed)
        if closed != self._relay:
            self._relay = closed
            self._write_relay(closed)

    def relay_closed(self):
        return self._relay

    def led(self, on):
        self._led = bool(on)

    # ---- metering front-ends
    def uart(self, path=None, timeout_ms=200):
        if self._uart is None:
            from pty_uart import PtyUart
            self._uart = PtyUart(path or os.getenv("METER_UART") or self.root + "/pzem.tty",
                                 timeout_ms)
        return self._uart

    def adc(self):
        if self._adc is None:
            link = self.root + "/adc.tty"
            if _exists(link):   # the simulator runs outside the meter, as hardware does
                from adc_link import AdcLink
                self._adc = AdcLink(self, link, SAMPLE_RATE, ADC_BITS)
            else:               # in-process: device tests of adc_sim itself
                from adc_sim import AdcSim
                self._adc = AdcSim(self, SAMPLE_RATE, ADC_BITS, CAL)
        return self._adc

    # ---- network: the ESP32's network.WLAN over a simulated radio world, which the test
    # harness controls (host_tools/esp32_standins/network.py, host_tools/wifiworld.py): the
    # link starts down and is up only once device/net.py has joined, as on the hardware.
    def wlan(self, ap=False):
        import network
        return network.WLAN(network.AP_IF if ap else network.STA_IF)

    def addresses(self):
        """The names this meter's page is reached at (web.guard's Host allowlist)."""
        return _ADDRESSES

    # ---- watchdog and reset cause: the ESP32 machine stand-in's (a WDT that is not fed
    # kills the process; the harness restarts it, and reset_cause() says WDT_RESET). The
    # unix port's own machine module has neither: no watchdog, every boot a power-on.
    def wdt(self, timeout_ms):
        import machine
        w = getattr(machine, "WDT", None)
        return w(timeout=timeout_ms) if w else None

    @staticmethod
    def reset_cause():
        import machine
        c = getattr(machine, "reset_cause", None)
        return c() if c else 1

    def unique_id(self):
        return b"unixsim0"

    def reset(self):
        import sys
        sys.exit(3)  # the supervisor (tests, demo) restarts the process
