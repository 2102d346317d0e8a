# esp32_analog: ESP32 DevKit with an analog front-end (ZMPT101B voltage module and SCT013
# current transformer, both biased to mid-rail), a relay and a status LED.
# The only place (with the other boards) that imports machine/network.
#
# Wiring: ZMPT101B OUT -> GPIO36 (ADC1_CH0, "VP"); SCT013 across its burden, one end on a
# 10k/10k mid-rail divider with 10 uF, the other -> GPIO39 (ADC1_CH3, "VN"). ADC1 only:
# ADC2 is unusable while WiFi is on. 11 dB attenuation (~0-3.1 V), 12-bit counts.
import time
import machine
import micropython
from micropython import const

from esp32_base import Esp32Board

NAME = "esp32_analog"
SOURCE = "analog"
SAMPLE_RATE = 4000   # per channel: 80 samples per 50 Hz cycle; a V+I pair takes ~100 us
ADC_BITS = 12
# Defaults until host_tools.calibrate has been run on this meter (docs/metering.md).
# vcal: ZMPT101B trimmed so 230 V RMS gives ~1.0 V peak; ~0.8 mV/count at 11 dB.
# ical: SCT013-030 (30 A : 1 V RMS, burden built in) at ~0.8 mV/count.
# phasecal: I is read ~40 us after V (0.16 of a sample period), emonLib-style 1 + 0.16;
# the sensors' own phase shifts are what calibration adds to it.
# icreep: the ESP32 ADC's noise is several counts RMS; 0.15 A (~6 counts) keeps an idle
# circuit at 0 W. calibrate --noload measures it for the actual meter.
CAL = {"vcal": 0.262, "ical": 0.0242, "phasecal": 1.16, "icreep": 0.15}

_PIN_V = const(36)
_PIN_I = const(39)
_PIN_RELAY = const(26)   # relay driver (active high), NO contact in series with the load
_PIN_LED = const(2)


class Sampler:
    """Samples the voltage and current channels as pairs at a fixed rate with a timed
    loop (the ESP32 port has no DMA ADC stream in MicroPython). Blocks for the window
    (~245 ms for 10 cycles); allocates nothing per sample."""

    def __init__(self, rate=SAMPLE_RATE, bits=ADC_BITS):
        self.rate = rate
        self.bits = bits
        self.late = 0   # samples whose slot had already passed (WiFi/IRQ latency)
        self._v = machine.ADC(machine.Pin(_PIN_V), atten=machine.ADC.ATTN_11DB)
        self._i = machine.ADC(machine.Pin(_PIN_I), atten=machine.ADC.ATTN_11DB)
        self._period_us = 1000000 // rate

    @micropython.native
    def sample(self, vbuf, ibuf):
        """Fill vbuf and ibuf with 12-bit counts; return the rate actually achieved
        (samples/s), which the metering uses for frequency and phase."""
        rv = self._v.read        # raw counts, 0..4095
        ri = self._i.read
        now = time.ticks_us
        add = time.ticks_add
        diff = time.ticks_diff
        period = self._period_us
        n = len(vbuf)
        late = 0
        t = now()
        first = t
        last = t
        for k in range(n):
            last = now()
            vbuf[k] = rv()
            ibuf[k] = ri()
            t = add(t, period)   # the schedule, not "now + period": no drift
            if diff(t, now()) < 0:
                late += 1
            while diff(t, now()) > 0:
                pass
        self.late += late
        span = diff(last, first)
        if span <= 0:
            return self.rate
        return (1000000 * (n - 1) + span // 2) // span


class Board(Esp32Board):
    def __init__(self):
        super().__init__(_PIN_RELAY, _PIN_LED)
        self._adc = None

    def uart(self, path=None, timeout_ms=200):
        raise OSError("esp32_analog has no PZEM-004T; use measure.source 'analog'")

    def adc(self):
        if self._adc is None:
            self._adc = Sampler(SAMPLE_RATE, ADC_BITS)
        return self._adc
