# The metering kernels, viper (device/measure/kernels.py) against the same algorithm in
# plain bytecode (kernels_ref.py), on the same buffers in one MicroPython run.
#   micropython kernels_bench.py check        -> {"equal": true, ...} on several windows
#   micropython kernels_bench.py bench N      -> samples/s of each over N windows
# A window is what measure.analog runs per reading: stats of both channels, zero
# crossings, the sums and the fundamental, over 10 cycles at 4 kHz (979 samples/channel).
import sys
import json
import math
import time
from array import array

from measure import kernels as vk
from measure.analog import Analog
import kernels_ref as rk

RATE = 4000
N = RATE * 11 // 45 + 2
CYCLES = 10


def waveform(vbuf, ibuf, hz, pf, seed):
    r = seed
    phi = math.acos(pf)
    for k in range(len(vbuf)):
        a = 2 * math.pi * hz * k / RATE
        r = (r * 69069 + 12345) & 0x3FFFFFFF
        vbuf[k] = int(2040 + 1080 * (math.sin(a) - 0.03 * math.sin(3 * a)) + (r >> 27))
        ibuf[k] = int(2060 + 900 * (math.sin(a - phi) + 0.1 * math.sin(3 * (a - phi)))
                      + ((r >> 24) & 7))


def window(m, vbuf, ibuf, tab, st, xs, acc, fac):
    """One window's kernel calls with module m; returns the integers they produced."""
    n = len(vbuf)
    m.stats(ibuf, n, st)
    mi = st[0] // n
    m.stats(vbuf, n, st)
    mv = st[0] // n
    c = m.crossings(vbuf, n, mv, (st[2] - st[1]) >> 3, xs, len(xs))
    kk = min(c - 1, CYCLES)
    a, e = xs[0], xs[kk]
    m.sums(vbuf, ibuf, a, e - 1, mv, mi, acc)
    step = (1 << 30) * kk // (e - a)
    m.fundamental(vbuf, ibuf, a, e - 1, mv, mi, step, tab, fac)
    return [mi, mv, c] + list(xs[:c]) + list(acc) + list(fac)


def buffers():
    return (array("H", bytes(2 * N)), array("H", bytes(2 * N)), vk.sine_table(),
            array("i", (0, 0, 0)), array("i", bytes(4 * (CYCLES + 1))),
            array("i", bytes(8 * vk.NSUMS)), array("i", bytes(8 * vk.NFUND)))


def check():
    b = buffers()
    ok = True
    cases = 0
    for hz, pf, seed in ((50, 1.0, 1), (50, 0.5, 2), (60, 0.2, 3), (47.5, 0.9, 4), (62, 0.8, 5)):
        waveform(b[0], b[1], hz, pf, seed)
        ok = ok and window(vk, *b) == window(rk, *b)
        cases += 1
    print(json.dumps({"equal": ok, "cases": cases}))


def bench(windows):
    b = buffers()
    waveform(b[0], b[1], 50, 0.8, 7)
    out = {}
    for name, m in (("viper", vk), ("bytecode", rk)):
        reps = windows if name == "viper" else max(1, windows // 20)
        window(m, *b)   # warm up
        t0 = time.ticks_us()
        for _ in range(reps):
            window(m, *b)
        us = time.ticks_diff(time.ticks_us(), t0)
        out[name] = {"windows": reps, "us_per_window": us / reps,
                     "samples_per_s": round(N * reps * 1e6 / us)}
    out["ratio"] = out["viper"]["samples_per_s"] / out["bytecode"]["samples_per_s"]
    # the whole per-window measurement (kernels + float arithmetic), for context
    a = Analog(None, {"vcal": 0.3, "ical": 0.01}, RATE, CYCLES)
    a.vbuf, a.ibuf = b[0], b[1]
    t0 = time.ticks_us()
    for _ in range(windows):
        a.compute(RATE)
    out["analog_compute_us"] = time.ticks_diff(time.ticks_us(), t0) / windows
    out["samples_per_window"] = N
    print(json.dumps(out))


if sys.argv[1] == "check":
    check()
else:
    bench(int(sys.argv[2]))
