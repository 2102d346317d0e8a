# Power quality: limits on each window's reading, with hysteresis and a minimum duration.
# A pipeline stage: step(reading, dt_ms, utc) after each read returns a bit mask of the
# conditions that just ended (0 almost always); emit() turns those into the meter's `pq`
# events (what, start, end, worst, limit). Per window it runs on preallocated state: no
# allocation (the worst value kept is the reading's own float, compared, never computed).
# Counts per local day for telemetry and the page.
#
# Condition k: the value must stay beyond its limit for the minimum duration before the
# condition starts (a shorter excursion is no event), and come back inside the limit by the
# hysteresis before it ends. A limit of 0 turns that condition off (docs/config.md pq.*):
#   sag, swell                  V below pq.v_sag / above pq.v_swell for pq.short_ms
#   under_voltage, over_voltage V below pq.v_under / above pq.v_over for pq.long_s
#   frequency (low, high)       Hz outside pq.hz_min..pq.hz_max for pq.long_s
#   over_current                I above pq.i_max for pq.long_s
# Memory (32-bit port): the state is 0.6 KB; loose (not frozen) its code adds 3.7 KB more
# (frozen, the code stays in flash).
try:
    from micropython import const
except ImportError:  # CPython (host tools)
    def const(x):
        return x
from array import array

from measure.reading import OK

WHAT = ("sag", "swell", "under_voltage", "over_voltage", "frequency", "frequency",
        "over_current")
_KEYS = ("v_sag", "v_swell", "v_under", "v_over", "hz_min", "hz_max", "i_max")
_N = const(7)
_LOW = const(0b0010101)     # conditions whose bad side is below the limit
_DAY_S = const(86400)


class Quality:
    def __init__(self, cfg):
        self.lim = [float(cfg["pq." + k]) for k in _KEYS]
        # the value must come back past this to end a condition (floats made once, here)
        self.back = [self.lim[k] + cfg["pq.%s_hyst" % _KEYS[k].split("_")[0]]
                     * (1 if _LOW >> k & 1 else -1) for k in range(_N)]
        self.hold = (cfg["pq.short_ms"],) * 2 + (cfg["pq.long_s"] * 1000,) * 5
        self.off = cfg["meter.utc_offset_min"] * 60
        # per condition k: [k] ms beyond the limit so far, [7 + k] UTC s it went beyond,
        # [14 + k] UTC s it came back (an ended condition)
        self.st = array("l", [0] * (3 * _N))
        self.active = bytearray(_N)        # 1 while a condition holds
        self.worst = [0.0] * _N            # the reading value furthest beyond
        self.today = bytearray(_N)         # conditions started this local day (to 255)
        self.next_day = 0   # UTC s of the next local midnight: counts restart then

    def step(self, r, dt_ms, utc):
        """Feed one window's reading; -> mask of the conditions that ended (bit k)."""
        if utc >= self.next_day:   # a comparison: the ESP32's big-int epoch is not copied
            self.next_day = ((utc + self.off) // _DAY_S + 1) * _DAY_S - self.off
            self.today[:] = bytes(_N)
        if r.status != OK or r.v < 1:     # no live numbers, or no supply: no verdict
            return 0
        ended = 0
        for k in range(_N):
            lim = self.lim[k]
            if lim == 0:
                continue
            x = r.v if k < 4 else r.hz if k < 6 else r.i
            low = _LOW >> k & 1
            if self.active[k]:
                if (x < self.worst[k]) if low else (x > self.worst[k]):
                    self.worst[k] = x
                if (x >= self.back[k]) if low else (x <= self.back[k]):
                    self.active[k] = 0
                    self.st[14 + k] = utc
                    ended |= 1 << k
            elif (x < lim) if low else (x > lim):
                st = self.st
                if st[k] == 0:
                    st[7 + k] = utc
                    self.worst[k] = x
                elif (x < self.worst[k]) if low else (x > self.worst[k]):
                    self.worst[k] = x
                st[k] += dt_ms
                if st[k] >= self.hold[k]:
                    self.active[k] = 1
                    st[k] = 0
                    if self.today[k] < 255:
                        self.today[k] += 1
            else:
                self.st[k] = 0
        return ended

    def emit(self, ended, events):
        """A `pq` event for each condition in the mask step() returned; values in record
        units (V x 10, Hz x 100, A x 1000)."""
        for k in range(_N):
            if ended >> k & 1:
                s = 10 if k < 4 else 100 if k < 6 else 1000
                events.emit("pq", what=WHAT[k], start=self.st[7 + k], end=self.st[14 + k],
                            worst=int(self.worst[k] * s + 0.5),
                            limit=int(self.lim[k] * s + 0.5))

    def counts(self):
        """{what: conditions started this local day} (telemetry, the page)."""
        out = {}
        for k in range(_N):
            out[WHAT[k]] = out.get(WHAT[k], 0) + self.today[k]
        return out
