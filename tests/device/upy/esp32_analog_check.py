# boards/esp32_analog/board.py on the unix port: its timed sampling loop and calibration
# defaults feeding measure.analog, with machine.Pin/ADC faked (the one thing that cannot
# exist here): the fake channels return a 50 Hz voltage and a current lagging by 30
# degrees at the instant the loop's schedule assigns to each read (k / 4000 s), so the
# numbers do not depend on how busy this machine is; the loop's timing itself is real.
import sys
import json
import math
import asyncio


class _Pin:
    OUT = 1
    IN = 0

    def __init__(self, n, mode=0, value=0):
        self.n, self._v = n, value

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = v


class _ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin, self.atten = pin, atten
        self.amp, self.lag = (1000, 0.0) if pin.n == 36 else (500, math.pi / 6)
        self.k = 0

    def read(self):
        t = self.k / 4000
        self.k += 1
        return int(2048 + self.amp * math.sin(2 * math.pi * 50 * t - self.lag) + 0.5)


class _Machine:
    Pin = _Pin
    ADC = _ADC

    @staticmethod
    def unique_id():
        return b"esp32ana"


sys.modules["machine"] = _Machine
sys.path.insert(0, sys.argv[1])   # boards/esp32_analog
sys.path.insert(1, sys.argv[1] + "/../esp32")   # the shared ESP32 glue (esp32_base)
import board
from measure.analog import Analog
from measure.reading import Reading

b = board.Board()
adc = b.adc()
a = Analog(adc, board.CAL, board.SAMPLE_RATE, 10, 3)
r = Reading()
# A window the loop ran late through (this shared machine was busy: on an ESP32, WiFi
# interrupts) is rightly rejected by the driver; report the first 3 on-time windows.
shown = 0
for _ in range(30):
    late = adc.late
    fresh = asyncio.run(a.read(r))
    if adc.late != late and not fresh:
        continue
    shown += 1
    if shown > 3:
        break
    print(json.dumps({"fresh": fresh, "status": r.status, "rate": adc.sample(a.vbuf, a.ibuf),
                      "n": a.n, "v": r.v, "i": r.i, "pf": r.pf, "hz": r.hz,
                      "late": adc.late, "source": board.SOURCE, "cal": board.CAL}))
