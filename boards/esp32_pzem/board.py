# esp32_pzem: ESP32 DevKit with a PZEM-004T v3 on UART2, a relay and a status LED.
# The only place (with the other boards) that imports machine/network.
import time
import asyncio
import machine
from micropython import const

NAME = "esp32_pzem"
SOURCE = "pzem"
SAMPLE_RATE = 0
ADC_BITS = 0
CAL = {}

_UART_ID = const(2)
_PIN_TX = const(17)
_PIN_RX = const(16)
_PIN_RELAY = const(26)   # relay driver (active high), NO contact in series with the load
_PIN_LED = const(2)
_EPOCH_2024 = const(1704067200)


class Board:
    def __init__(self):
        self.root = "/"
        self.speed = 1
        self._relay_pin = machine.Pin(_PIN_RELAY, machine.Pin.OUT, value=0)
        self._led = machine.Pin(_PIN_LED, machine.Pin.OUT, value=0)
        self._uart = None
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

    def uart(self, path=None, timeout_ms=200):
        if self._uart is None:
            self._uart = machine.UART(_UART_ID, baudrate=9600, bits=8, parity=None, stop=1,
                                      tx=_PIN_TX, rx=_PIN_RX, timeout=timeout_ms,
                                      timeout_char=5)
        return self._uart

    def adc(self):
        raise OSError("esp32_pzem has no analog front-end")

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
