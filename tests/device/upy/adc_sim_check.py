# Drives boards/unix_sim/adc_sim.py through the real Board and measure.analog.Analog and
# prints one JSON line per observation for tests/device/test_adc_sim.py.
#   micropython adc_sim_check.py SCENARIO      (METER_ROOT = a fresh directory)
import gc
import os
import sys
import json
import asyncio

import board
from measure.analog import Analog
from measure.reading import Reading
from simulated.loadprofile import Household


def setup():
    b = board.Board()
    b.relay(True)
    adc = b.adc()
    return b, adc, Analog(adc, board.CAL, board.SAMPLE_RATE, 10, 3), Reading()


def put_load(b, text):
    if text is None:
        try:
            os.remove(b.root + "/load")
        except OSError:
            pass
        return
    with open(b.root + "/load", "w") as f:
        f.write(text)


def window(adc, a, r, **extra):
    fresh = asyncio.run(a.read(r))
    d = {"fresh": fresh, "status": r.status, "v": r.v, "i": r.i, "p": r.p, "s": r.s,
         "pf": r.pf, "hz": r.hz, "truth": list(adc.truth), "counters": a.counters()}
    d.update(extra)
    print(json.dumps(d))


def override():
    b, adc, a, r = setup()
    for w, pf in ((60, 1.0), (1000, 1.0), (2500, 0.8), (700, -0.6), (4000, 0.95)):
        put_load(b, "%d %s" % (w, pf))
        window(adc, a, r, want_w=w, want_pf=pf)


def profile():
    b, adc, a, r = setup()
    put_load(b, None)
    hh = Household(int(os.getenv("METER_SEED") or 1))
    t0 = b.time()
    for h in range(0, 24, 2):
        b.set_time(t0 + h * 3600)
        t = b.time()
        window(adc, a, r, want_w=[hh.watts(t), hh.watts(t + 1)], want_pf=hh.pf(t))


def relay_open():
    b, adc, a, r = setup()
    put_load(b, "3000 0.9")
    b.relay(False)
    window(adc, a, r, relay=b.relay_closed())
    b.relay(True)
    window(adc, a, r, relay=b.relay_closed())


def clipping():
    b, adc, a, r = setup()
    put_load(b, "1000 1")
    window(adc, a, r)
    put_load(b, "12000 0.5")   # ~104 A: far beyond the CT's range
    for _ in range(4):
        window(adc, a, r)
    put_load(b, "1000 1")
    window(adc, a, r)


def no_voltage():
    b, adc, a, r = setup()
    for _ in range(4):
        window(adc, a, r)


def alloc():
    """Heap bytes one sample() and one compute() allocate, for two buffer sizes: equal
    means nothing is allocated per sample."""
    b, adc, a, r = setup()
    put_load(b, "1500 0.9")
    out = {}
    for n in (500, 4000):
        ab = Analog(adc, board.CAL, board.SAMPLE_RATE, 10, 3, samples=n)
        vb, ib = ab.vbuf, ab.ibuf
        adc.sample(vb, ib)
        ab.compute(board.SAMPLE_RATE)
        gc.collect()
        gc.disable()
        m0 = gc.mem_alloc()
        adc.sample(vb, ib)
        m1 = gc.mem_alloc()
        ab.compute(board.SAMPLE_RATE)
        m2 = gc.mem_alloc()
        gc.enable()
        out[str(n)] = [m1 - m0, m2 - m1]
    print(json.dumps({"alloc": out}))


def soak():
    """A simulated hour, one window per meter second: heap after gc at each 10 minutes."""
    b, adc, a, r = setup()
    put_load(b, None)
    t0 = b.time()
    heap = []
    ok = 0
    for k in range(3600):
        if k % 600 == 0:
            gc.collect()
            heap.append(gc.mem_alloc())
        b.set_time(t0 + k)
        ok += asyncio.run(a.read(r))
    print(json.dumps({"heap": heap, "fresh": ok, "counters": a.counters()}))


{"soak": soak, "override": override, "profile": profile, "relay_open": relay_open, "clipping": clipping,
 "no_voltage": no_voltage, "alloc": alloc}[sys.argv[1]]()
