# The simulated analog front-end as its own process: host_tools.adc_feed runs this under
# MicroPython behind the pty <root>/adc.tty, and the meter's board reads it through
# adc_link.AdcLink, as it would read the ESP32's ADC. Environment: METER_ROOT (the meter's
# flash directory, for <root>/load and config.json) and adc_sim's.
import os
import struct
import sys
from array import array

import board
from adc_sim import AdcSim


class _Wire:
    """What AdcSim asks of its board, as the meter's request says it (serve())."""

    def __init__(self, root):
        self.root = root
        self.t = 0
        self.closed = 0

    def time(self):
        return self.t

    def relay_closed(self):
        return self.closed


def serve():
    """Answer each request on stdin (struct "<BIHB": sequence, meter UTC seconds, n, relay
    closed; adc_link.py) with the request, n V counts and n I counts on stdout. One AdcSim
    for the whole run, so phase and noise run on from window to window; the clock is the
    meter's, so the feeder keeps none. Ends when stdin does."""
    w = _Wire(os.getenv("METER_ROOT") or ".")
    sim = AdcSim(w, board.SAMPLE_RATE, board.ADC_BITS, board.CAL)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    req = bytearray(8)
    v = i = array("H")
    sys.stderr.write("adc_feed: ready\n")
    while inp.readinto(req) == 8:
        _, w.t, n, w.closed = struct.unpack("<BIHB", req)
        if len(v) != n:
            v, i = array("H", bytes(2 * n)), array("H", bytes(2 * n))
        sim.sample(v, i)
        out.write(req)
        out.write(v)
        out.write(i)


if __name__ == "__main__":
    serve()
