# The metering kernels of device/measure/kernels.py, line for line, in plain bytecode: the
# benchmark's same-run baseline (tests/bench/bench_kernels.py), and a cross-check that the
# viper versions compute exactly the same integers (tests/device/test_analog_accuracy.py).
# Never imported by the firmware, so it does not ship in the device bundle.
from measure.kernels import SIN_ONE, SIN_BITS

_BLOCK = 64
_SIN_SHIFT = 30 - SIN_BITS
_SIN_MASK = (1 << SIN_BITS) - 1
_QUARTER = 1 << (SIN_BITS - 2)
_PH_MASK = 0x3FFFFFFF


def stats(buf, n, out):
    s = 0
    lo = 65535
    hi = 0
    k = 0
    while k < n:
        x = buf[k]
        s += x
        if x < lo:
            lo = x
        if x > hi:
            hi = x
        k += 1
    out[0] = s
    out[1] = lo
    out[2] = hi


def crossings(buf, n, mid, hyst, out, maxc):
    low = mid - hyst
    armed = 0
    c = 0
    k = 0
    while k < n:
        x = buf[k]
        if armed:
            if x >= mid:
                out[c] = k
                c += 1
                if c >= maxc:
                    break
                armed = 0
        elif x < low:
            armed = 1
        k += 1
    return c


def sums(vbuf, ibuf, a, b, mv, mi, acc):
    for j in range(12):
        acc[j] = 0
    xp = vbuf[a - 1] - mv
    k = a
    b += 1
    while k < b:
        end = k + _BLOCK
        if end > b:
            end = b
        sx = sy = sxx = syy = sxy = s1 = 0
        while k < end:
            x = vbuf[k] - mv
            y = ibuf[k] - mi
            sx += x
            sy += y
            sxx += x * x
            syy += y * y
            sxy += x * y
            s1 += xp * y
            xp = x
            k += 1
        acc[0] += sx >> 16
        acc[1] += sx & 0xFFFF
        acc[2] += sy >> 16
        acc[3] += sy & 0xFFFF
        acc[4] += sxx >> 16
        acc[5] += sxx & 0xFFFF
        acc[6] += syy >> 16
        acc[7] += syy & 0xFFFF
        acc[8] += sxy >> 16
        acc[9] += sxy & 0xFFFF
        acc[10] += s1 >> 16
        acc[11] += s1 & 0xFFFF


def fundamental(vbuf, ibuf, a, b, mv, mi, step, tab, acc):
    for j in range(8):
        acc[j] = 0
    ph = 0
    k = a
    b += 1
    while k < b:
        end = k + _BLOCK
        if end > b:
            end = b
        xc = xs = yc = ys = 0
        while k < end:
            j = ph >> _SIN_SHIFT
            sn = tab[j] - SIN_ONE
            cs = tab[(j + _QUARTER) & _SIN_MASK] - SIN_ONE
            x = vbuf[k] - mv
            y = ibuf[k] - mi
            xc += x * cs
            xs += x * sn
            yc += y * cs
            ys += y * sn
            ph = (ph + step) & _PH_MASK
            k += 1
        acc[0] += xc >> 16
        acc[1] += xc & 0xFFFF
        acc[2] += xs >> 16
        acc[3] += xs & 0xFFFF
        acc[4] += yc >> 16
        acc[5] += yc & 0xFFFF
        acc[6] += ys >> 16
        acc[7] += ys & 0xFFFF
