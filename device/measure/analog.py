# Analog front-end: a voltage sensor (ZMPT101B) and a current transformer (SCT013) on two
# ADC channels, sampled together by the board (board.adc().sample(vbuf, ibuf) -> rate).
# The per-sample work is in measure/kernels.py (viper); this module does the per-window
# arithmetic in floats (a few dozen operations per window) and fills a Reading.
# docs/metering.md describes the algorithm, the scaling and the PF sign convention.
#
# read() fills a measure.reading.Reading in place. A window with no mains signal (no
# whole cycle found, frequency out of range) or with samples at either ADC rail (clipping:
# the RMS would read low) is counted by kind and leaves the last numbers alone; after
# stale_after consecutive bad windows the reading is marked STALE. register_wh stays -1:
# the core integrates p over time into integer Wh.
import math
from array import array
from micropython import const

from measure import kernels as K
from measure.reading import OK, STALE

# compute() results, also the index into the counters
GOOD = const(0)
NO_SIGNAL = const(1)
CLIPPING = const(2)

_F_MIN = const(45)    # Hz; the buffer holds cycles + 1 periods at this frequency
_F_MAX = const(65)
_MIN_PP = const(64)   # V channel peak-to-peak below this many counts: no mains signal
_CREEP = const(3)     # default icreep, counts: about 3x the noise of a clean 12-bit ADC
_SIGN_DEADBAND = 0.01 # |sin(phase)| below this: too close to unity to call lead or lag
_TWO_PI = 2 * math.pi
_PH_PER_RAD = (1 << 30) / _TWO_PI   # kernels' phase accumulator: 2^30 per cycle


class Analog:
    def __init__(self, adc, cal, rate, cycles=10, stale_after=3, samples=0):
        """cal: vcal (V per count), ical (A per count), phasecal (emonLib-style, 1 = none),
        icreep (A; below it the current is ADC noise and reads 0; default 3 counts).
        samples: buffer length; 0 sizes it for `cycles` mains cycles at 45 Hz plus one."""
        self.vcal = float(cal["vcal"])
        self.ical = float(cal["ical"])
        self.phasecal = float(cal.get("phasecal", 1.0))
        self.icreep = float(cal.get("icreep", _CREEP * self.ical))
        if not (self.vcal > 0 and self.ical > 0 and self.icreep >= 0 and rate > 0
                and cycles >= 1):
            raise ValueError("analog: vcal, ical, rate and cycles must be > 0, icreep >= 0")
        self.adc = adc
        self.cycles = cycles
        self.stale_after = max(1, stale_after)
        self.full = (1 << getattr(adc, "bits", 12)) - 1
        n = samples or rate * (cycles + 1) // _F_MIN + 2
        self.n = n
        self.vbuf = array("H", bytes(2 * n))
        self.ibuf = array("H", bytes(2 * n))
        self._xs = array("i", bytes(4 * min(cycles + 1, n * _F_MAX // rate + 2)))
        self._st = array("i", (0, 0, 0))
        self._acc = array("i", bytes(8 * K.NSUMS))
        self._fac = array("i", bytes(8 * K.NFUND))
        self._sin = K.sine_table()
        self._n = [0, 0, 0]   # GOOD, NO_SIGNAL, CLIPPING windows
        self.reverse = 0      # windows with power flowing backwards (CT reversed, export)
        self.vrms = self.irms = self.p = self.s = self.pf = self.hz = 0.0
        self.phi = 0.0        # radians the fundamental current lags the voltage

    def counters(self):
        n = self._n
        c = {"ok": n[GOOD], "no_signal": n[NO_SIGNAL], "clipping": n[CLIPPING],
             "reverse": self.reverse}
        late = getattr(self.adc, "late", None)  # samples the board's timed loop ran late
        if late is not None:
            c["late"] = late
        return c

    async def read(self, r):
        """Sample one window and fill Reading r; return True if it is fresh."""
        res = self.compute(self.adc.sample(self.vbuf, self.ibuf))
        self._n[res] += 1
        if res != GOOD:
            r.fails += 1
            if r.fails >= self.stale_after:
                r.status = STALE
            return False
        if self.p < 0:
            self.reverse += 1
        r.v, r.i, r.p, r.s, r.pf, r.hz = self.vrms, self.irms, self.p, self.s, self.pf, self.hz
        r.status = OK
        r.fails = 0
        return True

    def compute(self, rate):
        """Measure the samples in vbuf/ibuf taken at `rate` Hz; set vrms, irms, p, s, pf, hz.
        Returns GOOD, NO_SIGNAL (nothing set) or CLIPPING (set, but reading low)."""
        vb, ib, n, st = self.vbuf, self.ibuf, self.n, self._st
        K.stats(ib, n, st)
        isum, ilo, ihi = st[0], st[1], st[2]
        K.stats(vb, n, st)
        vsum, vlo, vhi = st[0], st[1], st[2]
        if vhi - vlo < _MIN_PP or rate <= 0:
            return NO_SIGNAL
        # Integer offsets from the whole buffer: close to the DC level (a partial cycle
        # biases them slightly); the exact whole-cycle mean is removed from the sums below.
        mv = (vsum + n // 2) // n
        mi = (isum + n // 2) // n
        xs = self._xs
        kk = min(K.crossings(vb, n, mv, (vhi - vlo) >> 3, xs, len(xs)) - 1, self.cycles)
        if kk < 1:
            return NO_SIGNAL
        # Crossing times interpolated between the samples either side (in samples). The
        # window a..e-1 is the whole samples between the first and last crossing.
        a, e = xs[0], xs[kk]
        t0 = a - 1 + (mv - vb[a - 1]) / (vb[a] - vb[a - 1])
        span = e - 1 + (mv - vb[e - 1]) / (vb[e] - vb[e - 1]) - t0   # kk periods, samples
        hz = rate * kk / span
        if not _F_MIN <= hz <= _F_MAX:
            return NO_SIGNAL
        acc = self._acc
        K.sums(vb, ib, a, e - 1, mv, mi, acc)
        t = [acc[j] * 65536.0 + acc[j + 1] for j in range(0, 2 * K.NSUMS, 2)]
        # The integer window is up to a sample longer or shorter than kk exact periods:
        # count the missing fraction at the value of the edge samples (same phase in a
        # periodic signal), so a current peak at the window edge does not bias Irms.
        d = (span - (e - a)) * 0.5
        self._edge(t, a, mv, mi, d)
        self._edge(t, e - 1, mv, mi, d)
        inv = 1.0 / span
        mx, my = t[0] * inv, t[1] * inv           # residual DC over whole cycles
        m2 = mx * my
        vrms = math.sqrt(max(t[2] * inv - mx * mx, 0.0))
        irms = math.sqrt(max(t[3] * inv - my * my, 0.0))
        r0, r1 = t[4] * inv - m2, t[5] * inv - m2
        # Phase correction (emonLib PHASECAL): V shifted to x[k-1] + f*(x[k]-x[k-1]); its
        # product with y is linear in f, so it comes from the two lag sums. Divided by the
        # interpolator's gain at the fundamental, so a phasecal far from 1 keeps P exact.
        w = _TWO_PI * kk / span                     # fundamental, radians per sample
        f = self.phasecal
        p = ((1 - f) * r1 + f * r0) / math.sqrt(f * f + (1 - f) * (1 - f)
                                                + 2 * f * (1 - f) * math.cos(w))
        # Lead/lag from the fundamental only (harmonics would swamp the sign near unity
        # PF): I lags V by the difference of their DFT phases, plus the (f - 1) samples
        # by which the phase correction advances V.
        fa = self._fac
        K.fundamental(vb, ib, a, e - 1, mv, mi, int(w * _PH_PER_RAD + 0.5), self._sin, fa)
        phi = (math.atan2(fa[0] * 65536.0 + fa[1], fa[2] * 65536.0 + fa[3])
               - math.atan2(fa[4] * 65536.0 + fa[5], fa[6] * 65536.0 + fa[7]) + (f - 1) * w)
        q = math.sin(phi)
        self.phi = math.atan2(q, math.cos(phi))   # wrapped to -pi..pi, for calibration
        self.hz = hz
        self.vrms = vrms * self.vcal
        self.irms = irms * self.ical
        if self.irms < self.icreep:   # noise, not a load: never billed (anti-creep)
            self.irms = self.p = self.s = self.pf = 0.0
        else:
            self.p = p * self.vcal * self.ical
            self.s = self.vrms * self.irms
            pf = min(abs(self.p) / self.s, 1.0)
            self.pf = -pf if q <= -_SIGN_DEADBAND else pf
        if vlo <= 0 or ilo <= 0 or vhi >= self.full or ihi >= self.full:
            return CLIPPING
        return GOOD

    def _edge(self, t, k, mv, mi, d):
        """Add d times the six summed quantities at sample k to the totals t."""
        x = self.vbuf[k] - mv
        y = self.ibuf[k] - mi
        xp = self.vbuf[k - 1] - mv
        t[0] += d * x
        t[1] += d * y
        t[2] += d * x * x
        t[3] += d * y * y
        t[4] += d * x * y
        t[5] += d * xp * y
