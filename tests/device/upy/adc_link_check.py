# Drives the unix_sim ADC over its link (adc_link.AdcLink <-> host_tools.adc_feed, which the
# test starts on METER_ROOT) through the real Board and measure.analog.Analog, and prints
# one JSON line per observation for tests/device/test_adc_link.py.
#   micropython adc_link_check.py SCENARIO
# "truth" comes from an in-process AdcSim asked for the same meter second and relay: the
# synthesis's analytic numbers depend on those and the load, not on the waveform's phase.
import gc
import os
import sys
import json
import time
import asyncio
from array import array

import board
from adc_sim import AdcSim
from measure.analog import Analog
from measure.reading import Reading


def setup():
    b = board.Board()
    b.relay(True)
    adc = b.adc()
    assert type(adc).__name__ == "AdcLink", type(adc)
    return b, adc, Analog(adc, board.CAL, board.SAMPLE_RATE, 10, 3), Reading()


def put_load(b, text):
    with open(b.root + "/load", "w") as f:
        f.write(text)


class Ref:
    """The same synthesis in-process, for its truth."""

    def __init__(self, b):
        self.sim = AdcSim(b, board.SAMPLE_RATE, board.ADC_BITS, board.CAL)
        self.v = array("H", bytes(200))
        self.i = array("H", bytes(200))

    def truth(self):
        self.sim.sample(self.v, self.i)
        return list(self.sim.truth)


def window(b, a, r, ref=None, **extra):
    t = b.time()
    b.set_time(t)   # the meter second stays put for the window and the reference
    fresh = asyncio.run(a.read(r))
    d = {"fresh": fresh, "status": r.status, "v": r.v, "i": r.i, "p": r.p, "s": r.s,
         "pf": r.pf, "hz": r.hz, "counters": a.counters(), "relay": b.relay_closed()}
    if ref is not None:
        d["truth"] = ref.truth()
    d.update(extra)
    print(json.dumps(d))


def override():
    b, adc, a, r = setup()
    ref = Ref(b)
    for w, pf in ((60, 1.0), (1000, 1.0), (2500, 0.8), (700, -0.6), (4000, 0.95)):
        put_load(b, "%d %s" % (w, pf))
        window(b, a, r, ref, want_w=w, want_pf=pf)
    b.relay(False)
    window(b, a, r, ref)


def profile():
    b, adc, a, r = setup()
    ref = Ref(b)
    t0 = b.time()
    for h in range(0, 24, 3):
        b.set_time(t0 + h * 3600)
        window(b, a, r, ref)


def alloc():
    """Heap bytes one sample() allocates for two buffer sizes: equal means nothing per
    sample (what is left is the board clock's own)."""
    b, adc, a, r = setup()
    put_load(b, "1500 0.9")
    out = {}
    for n in (500, 4000):
        ab = Analog(adc, board.CAL, board.SAMPLE_RATE, 10, 3, samples=n)
        vb, ib = ab.vbuf, ab.ibuf
        rate = adc.sample(vb, ib)
        gc.collect()
        gc.disable()
        m0 = gc.mem_alloc()
        rate2 = adc.sample(vb, ib)
        m1 = gc.mem_alloc()
        gc.enable()
        out[str(n)] = [m1 - m0, rate, rate2]
    print(json.dumps({"alloc": out}))


def stale():
    """Requests whose answers are left unread (a window that timed out, a meter killed
    mid-window): every later window is either no signal or the right one."""
    b, adc, a, r = setup()
    put_load(b, "2000 1")
    for k in range(6):
        adc.write(b"\xf0\x00\x00\x00\x00\x10\x00\x01")   # 16 samples, sequence 0xf0
        if k % 2:
            time.sleep_ms(50)   # let the stale answer arrive before the next window
        window(b, a, r)
        window(b, a, r)


def dead():
    """Waits for a line on stdin before each step: the test stops and restarts the feeder."""
    b, adc, a, r = setup()
    put_load(b, "1000 1")
    for step in ("up", "down", "down", "again"):
        sys.stdin.readline()
        window(b, a, r, step=step)


{"override": override, "profile": profile, "alloc": alloc, "stale": stale,
 "dead": dead}[sys.argv[1]]()
