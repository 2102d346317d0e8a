# What every ESP32 meter board shares: clock and RTC, the relay and status LED, WiFi.
# Board files (boards/esp32_*/board.py) subclass Esp32Board and add their front-end.
# Bundled with every esp32_* board (host_tools/build.py).
import time
import asyncio
import machine
from micropython import const

_EPOCH_2024 = const(1704067200)


class Esp32Board:
    def __init__(self, pin_relay, pin_led):
        self.root = "/"
        self.speed = 1
        # relay driver active high, its NO contact in series with the load: de-energised
        # (supply cut) from power-up until the firmware decides
        self._relay_pin = machine.Pin(pin_relay, machine.Pin.OUT, value=0)
        self._led = machine.Pin(pin_led, machine.Pin.OUT, value=0)
        self._wlan = None

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

    def _net(self):
        if self._wlan is None:
            import network
            self._wlan = network.WLAN(network.STA_IF)
            self._wlan.active(True)
        return self._wlan

    def net_up(self):
        return self._net().isconnected()

    def net_connect(self, ssid=None, password=None):
        w = self._net()
        if not w.isconnected() and ssid:
            w.connect(ssid, password)
        return w.isconnected()

    def unique_id(self):
        return machine.unique_id()

    def reset(self):
        machine.reset()
