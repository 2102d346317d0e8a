# Viper kernels for analog RMS metering: the per-sample loops, and nothing else.
# They run over preallocated array('H') buffers of raw ADC counts and write integer results
# into preallocated array('i') outputs, so a measurement allocates nothing per sample.
# measure/analog.py turns the integer sums into V, A, W, VA, PF and Hz once per window;
# docs/metering.md explains the algorithm and the scaling.
#
# Word size: viper ints are machine words (32 bits on the ESP32, 64 on the unix port), so
# every sum is kept within 31 bits on both: samples are offset to about zero first, and
# products are summed in blocks of _BLOCK samples (64 * 4095^2 < 2^31) and then split into
# a high part (block >> 16) and a low part (block & 0xFFFF) accumulated separately. The
# window total is hi * 65536 + lo, exact for up to 2^19 samples.
import micropython
from micropython import const

_BLOCK = const(64)
NSUMS = const(6)  # sums(): Sx, Sy, Sxx, Syy, Sxy, Sx1y (x = volts, y = amps, 1 = lag one)
NFUND = const(4)  # fundamental(): x.cos, x.sin, y.cos, y.sin
SIN_BITS = const(8)
SIN_ONE = const(1024)   # sine table scale (Q10: 4095 * 1024 * 64 < 2^31)
_SIN_SHIFT = const(30 - SIN_BITS)
_SIN_MASK = const((1 << SIN_BITS) - 1)
_QUARTER = const(1 << (SIN_BITS - 2))
_PH_MASK = const(0x3FFFFFFF)


def sine_table():
    """One cycle of sine in 2^SIN_BITS steps, Q10, biased by SIN_ONE into array('H')."""
    import math
    from array import array
    n = 1 << SIN_BITS
    t = array("H", bytes(2 * n))
    for k in range(n):
        t[k] = SIN_ONE + round(SIN_ONE * math.sin(2 * math.pi * k / n))
    return t


@micropython.viper
def stats(buf, n: int, out):
    """out[0..2] = sum, min, max of buf[0:n] (counts)."""
    p = ptr16(buf)
    o = ptr32(out)
    s = 0
    lo = 65535
    hi = 0
    k = 0
    while k < n:
        x = p[k]
        s += x
        if x < lo:
            lo = x
        if x > hi:
            hi = x
        k += 1
    o[0] = s
    o[1] = lo
    o[2] = hi


@micropython.viper
def crossings(buf, n: int, mid: int, hyst: int, out, maxc: int) -> int:
    """Rising crossings of level mid, with hysteresis: a crossing counts only after the
    signal was below mid - hyst, so noise and harmonic ripple near zero cannot add extra
    ones. out[j] = index k of the first sample >= mid (so buf[k-1] < mid). Returns count."""
    p = ptr16(buf)
    o = ptr32(out)
    low = mid - hyst
    armed = 0
    c = 0
    k = 0
    while k < n:
        x = p[k]
        if armed:
            if x >= mid:
                o[c] = k
                c += 1
                if c >= maxc:
                    break
                armed = 0
        elif x < low:
            armed = 1
        k += 1
    return c


@micropython.viper
def sums(vbuf, ibuf, a: int, b: int, mv: int, mi: int, acc):
    """Sums over samples a..b (a >= 1) of x = v - mv and y = i - mi:
    Sx, Sy, Sxx, Syy, Sxy and Sx1y = sum x[k-1]*y[k]. The lag-one product gives the
    emonLib-style phase correction with no per-sample multiply by a calibration constant.
    acc[2j] = high part, acc[2j+1] = low part of sum j (see the header)."""
    pv = ptr16(vbuf)
    pi = ptr16(ibuf)
    o = ptr32(acc)
    j = 0
    while j < 12:
        o[j] = 0
        j += 1
    xp = pv[a - 1] - mv
    k = a
    b += 1
    while k < b:
        end = k + _BLOCK
        if end > b:
            end = b
        sx = 0
        sy = 0
        sxx = 0
        syy = 0
        sxy = 0
        s1 = 0
        while k < end:
            x = pv[k] - mv
            y = pi[k] - mi
            sx += x
            sy += y
            sxx += x * x
            syy += y * y
            sxy += x * y
            s1 += xp * y
            xp = x
            k += 1
        o[0] += sx >> 16
        o[1] += sx & 0xFFFF
        o[2] += sy >> 16
        o[3] += sy & 0xFFFF
        o[4] += sxx >> 16
        o[5] += sxx & 0xFFFF
        o[6] += syy >> 16
        o[7] += syy & 0xFFFF
        o[8] += sxy >> 16
        o[9] += sxy & 0xFFFF
        o[10] += s1 >> 16
        o[11] += s1 & 0xFFFF


@micropython.viper
def fundamental(vbuf, ibuf, a: int, b: int, mv: int, mi: int, step: int, tab, acc):
    """Single-bin DFT of both channels at the fundamental over samples a..b: a reference
    sine/cosine (table tab, Q10) advances by step (2^30 = one cycle) per sample from phase
    0 at a. Over whole cycles the harmonics and DC are orthogonal to it, so the phase
    difference of the two results is the fundamental's alone (the lead/lag sign).
    acc[2j], acc[2j+1] = high, low parts of x.cos, x.sin, y.cos, y.sin."""
    pv = ptr16(vbuf)
    pi = ptr16(ibuf)
    t = ptr16(tab)
    o = ptr32(acc)
    j = 0
    while j < 8:
        o[j] = 0
        j += 1
    ph = 0
    k = a
    b += 1
    while k < b:
        end = k + _BLOCK
        if end > b:
            end = b
        xc = 0
        xs = 0
        yc = 0
        ys = 0
        while k < end:
            j = ph >> _SIN_SHIFT
            sn = t[j] - SIN_ONE
            cs = t[(j + _QUARTER) & _SIN_MASK] - SIN_ONE
            x = pv[k] - mv
            y = pi[k] - mi
            xc += x * cs
            xs += x * sn
            yc += y * cs
            ys += y * sn
            ph = (ph + step) & _PH_MASK
            k += 1
        o[0] += xc >> 16
        o[1] += xc & 0xFFFF
        o[2] += xs >> 16
        o[3] += xs & 0xFFFF
        o[4] += yc >> 16
        o[5] += yc & 0xFFFF
        o[6] += ys >> 16
        o[7] += ys & 0xFFFF
