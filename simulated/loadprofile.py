# A deterministic household load for the simulators (host_tools.pzem_sim on CPython and
# the unix_sim ADC waveform source on MicroPython): the same seed and time give the same
# watts on both runtimes, and across restarts, because the load is a pure function of
# time (no state, no random module): a daily shape (night base load, morning and evening
# peaks), a fridge compressor cycling, and appliances (water heater, kettle, microwave,
# washing machine, iron, air conditioner) that run on some days at jittered times.
# Integer arithmetic throughout; the hash keeps values below 2^31 so products stay small
# ints on the 64-bit unix port.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_DAY = const(86400)
_HOUR = const(3600)
_M31 = const(0x7FFFFFFF)

# Lighting, TV, electronics, cooking: W at each local hour, interpolated in between.
_SHAPE = (90, 80, 75, 75, 80, 110, 220, 380, 330, 200, 160, 150,
          170, 160, 150, 160, 210, 320, 480, 620, 660, 560, 360, 180)
_SHAPE_Q = const(330)   # reactive per mille of real power: PF ~0.95

# Appliances: (W, Q per mille of W, earliest start s-of-day, start window s,
#              min duration s, max duration s, chance per mille that it runs that day)
_APPS = (
    (2000, 0, 6 * _HOUR, _HOUR, 1200, 2700, 900),                # water heater, morning
    (2000, 0, 18 * _HOUR, 2 * _HOUR, 900, 1800, 400),            # water heater, evening
    (1800, 0, 6 * _HOUR + 1800, 5400, 120, 240, 950),            # kettle, breakfast
    (1800, 0, 15 * _HOUR, 2 * _HOUR, 120, 240, 600),             # kettle, afternoon tea
    (1200, 330, 19 * _HOUR, _HOUR, 180, 600, 700),               # microwave
    (500, 750, 9 * _HOUR, 8 * _HOUR, 3600, 5400, 350),           # washing machine, PF 0.8
    (1000, 0, 10 * _HOUR, 10 * _HOUR, 900, 1800, 200),           # iron
    (1400, 480, 13 * _HOUR, 3 * _HOUR, _HOUR, 3 * _HOUR, 300),   # air conditioner, PF 0.9
)
_FRIDGE_W = const(110)
_FRIDGE_Q = const(882)  # PF 0.75
_FRIDGE_ON_S = const(900)


def _h(a, b, c):
    """Small deterministic hash of three ints -> 0..2^31-1."""
    x = (a * 73856093 + b * 19349663 + c * 83492791) & _M31
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & _M31
    x ^= x >> 12
    x = (x * 0x297A2D39) & _M31
    return x ^ (x >> 15)


class Household:
    def __init__(self, seed=1):
        self.seed = seed
        self._q = 0   # reactive power of the last evaluation (var), for pf()
        self._period = 2400 + _h(seed, 0, 1) % 900   # fridge cycle, s
        self._phase = _h(seed, 0, 2) % self._period

    def _load(self, t, off):
        lt = int(t) + off
        day = lt // _DAY
        sod = lt - day * _DAY
        seed = self.seed
        hr = sod // _HOUR
        a = _SHAPE[hr]
        b = _SHAPE[(hr + 1) % 24]
        w = a + (b - a) * (sod - hr * _HOUR) // _HOUR
        w = w * (850 + _h(seed, day, 99) % 300) // 1000          # busy and quiet days
        w += w * (_h(seed, lt // 300, 7) % 300 - 150) // 1000    # 5-minute flicker
        q = w * _SHAPE_Q // 1000
        if (int(t) + self._phase) % self._period < _FRIDGE_ON_S:
            w += _FRIDGE_W
            q += _FRIDGE_W * _FRIDGE_Q // 1000
        for k in range(len(_APPS)):
            ap = _APPS[k]
            r = _h(seed, day, k + 1)
            if r % 1000 >= ap[6]:
                continue
            start = ap[2] + (r >> 10) % ap[3]
            if start <= sod < start + ap[4] + (r >> 20) % (ap[5] - ap[4] + 1):
                pw = ap[0] * (950 + (r >> 4) % 100) // 1000      # +-5% per day
                w += pw
                q += pw * ap[1] // 1000
        self._q = q
        return w

    def watts(self, t_utc_s, utc_offset_s=0):
        """Real power (W, int) drawn at UTC second t_utc_s; the daily shape follows local
        time t + utc_offset_s."""
        return self._load(t_utc_s, utc_offset_s)

    def pf(self, t, utc_offset_s=0):
        """Power factor (0..1, lagging) of the load at t, rounded to 0.01."""
        p = self._load(t, utc_offset_s)
        q = self._q
        if p <= 0:
            return 1.0
        return round(p / (p * p + q * q) ** 0.5, 2)


def _numbers(path):
    """The one or two numbers of a small control file, or None if it is missing, empty or
    holds anything else."""
    try:
        with open(path) as f:
            parts = f.read().split()
        nums = [float(p) for p in parts]
    except (OSError, ValueError):
        return None
    return nums if 1 <= len(nums) <= 2 else None


def override(root):
    """A forced load from the file <root>/load, "W [PF]" (PF defaults to 1; a negative PF
    means leading). Returns (watts, pf), or None if the file is missing or invalid."""
    nums = _numbers(root + "/load")
    if nums is None:
        return None
    w = int(nums[0])
    pf = nums[1] if len(nums) > 1 else 1.0
    if w < 0 or not (-1.0 <= pf <= 1.0) or (pf == 0 and w > 0):
        return None
    return w, pf


def supply(root):
    """A forced supply from the file <root>/supply, "V [Hz]" (tests drive sags, swells and
    frequency excursions with it): (volts, hz or None), or None if the file is missing or
    invalid."""
    nums = _numbers(root + "/supply")
    if nums is None:
        return None
    v = nums[0]
    hz = nums[1] if len(nums) > 1 else None
    if not 0 <= v <= 1000 or (hz is not None and not 1 <= hz <= 1000):
        return None
    return v, hz
