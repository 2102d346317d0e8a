# What every ESP32 meter board shares: clock and RTC, the relay and status LED, the WiFi
# station and setup access point (device/net.py drives them), the watchdog and reset cause.
# Run on the unix port with host_tools/esp32_standins in place of machine/network/ntptime
# (tests/e2e/test_esp32_board.py).
# Board files (boards/esp32_*/board.py) subclass Esp32Board and add their front-end.
# Bundled with every esp32_* board (host_tools/build.py).
import time
import asyncio
import machine
from micropython import const

_EPOCH_2024 = const(1704067200)
_AP_ADDR = "192.168.4.1"    # the ESP32 soft-AP's default address, for a phone joined to it


class Esp32Board:
    def __init__(self, pin_relay, pin_led):
        self.root = "."     # the flash's root: the cwd at boot ("/"), so paths are relative
        self.speed = 1
        # relay driver active high, its NO contact in series with the load: de-energised
        # (supply cut) from power-up until the firmware decides
        self._relay_pin = machine.Pin(pin_relay, machine.Pin.OUT, value=0)
        self._led = machine.Pin(pin_led, machine.Pin.OUT, value=0)

    ticks_ms = staticmethod(time.ticks_ms)
    ticks_diff = staticmethod(time.ticks_diff)
    ticks_add = staticmethod(time.ticks_add)

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)

    def time(self):
        # MicroPython's ESP32 epoch is 1970 since v1.22; time.time() is UTC when set by us.
        return time.time()

    def rtc_valid(self):
        return time.time() > _EPOCH_2024

    def set_time(self, epoch):
        tm = time.gmtime(epoch)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))

    def relay(self, closed):
        self._relay_pin.value(1 if closed else 0)

    def relay_closed(self):
        return bool(self._relay_pin.value())

    def led(self, on):
        self._led.value(1 if on else 0)

    def wlan(self, ap=False):
        """The station (or, ap=True, the soft-AP) interface; device/net.py drives both."""
        import network
        return network.WLAN(network.AP_IF if ap else network.STA_IF)

    def addresses(self):
        """The addresses this meter's page is reached at (web.guard's Host allowlist): the
        station address while connected (DHCP may change it; the guard re-reads it when a
        Host misses), and the soft-AP address."""
        w = self.wlan()
        if w.isconnected():
            return (w.ifconfig()[0], _AP_ADDR)
        return (_AP_ADDR,)

    def wdt(self, timeout_ms):
        """The hardware (task) watchdog; once started it cannot be stopped."""
        return machine.WDT(timeout=timeout_ms)

    @staticmethod
    def reset_cause():
        return machine.reset_cause()

    def unique_id(self):
        return machine.unique_id()

    def reset(self):
        machine.reset()
