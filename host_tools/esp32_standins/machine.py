# Stand-in for the ESP32 port's `machine` module (MicroPython 1.26, ports/esp32), for the
# unix port only: never part of a device bundle. `machine` is an extensible built-in, so
# this file on the import path (host_tools/fleet.py upy_env) replaces the unix port's.
# It covers what the esp32_* boards use: Pin, UART (mapped to the PZEM simulator's pty),
# ADC, RTC (those four in machine_hw.py), WDT, reset, reset_cause and its constants,
# unique_id.
#
# Resets are process exits the harness turns into a restart, like the chip's: reset() exits
# with 3 and a WDT that is not fed in time kills the process with SIGUSR1 (exit -10), each
# after writing the reset reason to <METER_ROOT>/reset_reason, the register
# reset_cause() reads on the next boot. A power loss (SIGKILL) leaves none: PWRON_RESET.
# The RTC keeps counting through resets, not through a power loss (time.py here).
import os
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_ROOT = os.getenv("METER_ROOT") or "."
_REASON = _ROOT + "/reset_reason"


def _boot_cause():
    try:
        with open(_REASON) as f:
            why = f.read().strip()
        os.remove(_REASON)
    except OSError:
        return PWRON_RESET
    return WDT_RESET if why == "wdt" else HARD_RESET


_CAUSE = _boot_cause()      # read once at boot, as the chip latches it


def reset_cause():
    return _CAUSE


def _mark(why):
    with open(_REASON, "w") as f:
        f.write(why)


def reset():
    _mark("sw")             # esp_restart(): ESP_RST_SW, which reset_cause() calls HARD_RESET
    import sys
    sys.exit(3)


def unique_id():
    return b"\x24\x6f\x28\x00\x00\x01"


def freq(hz=None):
    return 240000000


def __getattr__(name):
    # Pin, UART, ADC, RTC load when a board first asks (machine_hw.py): their classes would
    # cost the heap some KB that the ESP32's machine, a module in ROM, does not
    import machine_hw
    return getattr(machine_hw, name)


class WDT:
    """The task watchdog: once created it cannot be stopped; not fed within timeout ms, the
    chip resets. A thread watches the feeds and kills the process (SIGUSR1) when it bites."""
    _on = None

    def __new__(cls, id=0, timeout=5000):
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        w = WDT._on
        if w is None:
            w = WDT._on = object.__new__(cls)
            w._fed = time.ticks_ms()
            w._ms = timeout
            import _thread
            _thread.start_new_thread(w._watch, ())
        w._ms = timeout     # the ESP32 port reconfigures the one WDT with the new timeout
        return w

    def __init__(self, id=0, timeout=5000):
        pass

    def feed(self):
        self._fed = time.ticks_ms()

    def _watch(self):
        while time.ticks_diff(time.ticks_ms(), self._fed) < self._ms:
            time.sleep_ms(50)
        _mark("wdt")
        print("WDT: not fed for %d ms: reset" % self._ms)
        os.system("kill -USR1 $PPID")
        while True:
            time.sleep_ms(1000)
