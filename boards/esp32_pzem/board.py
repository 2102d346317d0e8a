# esp32_pzem: ESP32 DevKit with a PZEM-004T v3 on UART2, a relay and a status LED.
# The only place (with the other boards) that imports machine/network.
import machine
from micropython import const

from esp32_base import Esp32Board

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


class Board(Esp32Board):
    def __init__(self):
        super().__init__(_PIN_RELAY, _PIN_LED)
        self._uart = None

    def uart(self, path=None, timeout_ms=200):
        if self._uart is None:
            self._uart = machine.UART(_UART_ID, baudrate=9600, bits=8, parity=None, stop=1,
                                      tx=_PIN_TX, rx=_PIN_RX, timeout=timeout_ms,
                                      timeout_char=5)
        return self._uart

    def adc(self):
        raise OSError("esp32_pzem has no analog front-end")
