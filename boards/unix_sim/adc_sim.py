# unix_sim ADC: a synthesized ZMPT101B + SCT013 front-end. sample(vbuf, ibuf) fills both
# buffers with 12-bit counts as the ESP32 sampler would: mid-rail DC offset, mains voltage
# with 3rd and 5th harmonics, a current that follows the household load profile
# (simulated/loadprofile.py, or the test override file <root>/load) with its power factor, and
# about one count of noise. The current is zero while the relay is open.
#
# Cheap on the unix port: one cycle of each waveform shape is tabulated once, and a viper
# loop steps a phase accumulator through the tables (linear interpolation), scales,
# adds noise from an integer LCG and clamps. Nothing is allocated per sample.
# The counts follow board.CAL exactly (vcal V/count, ical A/count), and truth holds the
# analytic (vrms, irms, p, s, pf, hz) of the last window, for tests.
# A meter normally gets its windows from adc_feeder.py, run in its own process by
# host_tools.adc_feed (board.adc() then is adc_link.AdcLink), so none of this is in the
# meter's heap; board.adc() makes an AdcSim in-process only when that link is absent.
# Environment: METER_SEED (load profile seed, 1), METER_VOLTS (230), METER_HZ (50).
import os
import math
from array import array
import micropython
from micropython import const

from simulated.loadprofile import Household, override, supply

_TAB = const(256)           # table entries per cycle (+1 wrap entry); interpolated, the
                            # error is below 1e-4 of full scale, under a tenth of a count
_PH_MASK = const(0x3FFFFFFF)  # 30-bit phase accumulator: index = top 8 bits, then 10
_IX = const(22)             # bits of interpolation fraction
_Q = 16384.0                # table scale (Q14)
_BIAS = const(32768)        # tables are unsigned ('H') with this bias
# harmonics, relative to the fundamental: (order, amplitude, phase)
_V_HARM = ((3, 0.03, math.pi), (5, 0.02, 0.0))       # flat-topped grid voltage
_I_HARM = ((3, 0.12, 0.0), (5, 0.06, math.pi))       # rectifier loads (chargers, TVs)


def _table(harm):
    t = array("H", bytes(2 * (_TAB + 1)))
    for k in range(_TAB + 1):
        th = 2 * math.pi * k / _TAB
        x = math.sin(th)
        for h, a, ph in harm:
            x += a * math.sin(h * th + ph)
        t[k] = int(_BIAS + round(x * _Q))
    return t


@micropython.viper
def _fill(vbuf, ibuf, n: int, vt, it, st):
    # st: phase, rng, step, i phase offset, v amplitude, i amplitude (counts, Q4), mid, full
    pv = ptr16(vbuf)
    pi = ptr16(ibuf)
    tv = ptr16(vt)
    ti = ptr16(it)
    s = ptr32(st)
    ph = s[0]
    r = s[1]
    step = s[2]
    ioff = s[3]
    va = s[4]
    ia = s[5]
    mid = s[6]
    full = s[7]
    k = 0
    while k < n:
        r = (r * 69069 + 12345) & _PH_MASK
        j = ph >> _IX
        fr = (ph >> 12) & 1023
        a0 = tv[j]
        x = a0 - _BIAS + (((tv[j + 1] - a0) * fr) >> 10)
        v = mid + ((x * va + 131072) >> 18)
        v += ((r >> 14) & 1) + ((r >> 15) & 1) + ((r >> 16) & 1) + ((r >> 17) & 1) - 2
        q = (ph - ioff) & _PH_MASK
        j = q >> _IX
        fr = (q >> 12) & 1023
        a0 = ti[j]
        x = a0 - _BIAS + (((ti[j + 1] - a0) * fr) >> 10)
        i = mid + ((x * ia + 131072) >> 18)
        i += ((r >> 20) & 1) + ((r >> 21) & 1) + ((r >> 22) & 1) + ((r >> 23) & 1) - 2
        if v < 0:
            v = 0
        elif v > full:
            v = full
        if i < 0:
            i = 0
        elif i > full:
            i = full
        pv[k] = v
        pi[k] = i
        ph = (ph + step) & _PH_MASK
        k += 1
    s[0] = ph
    s[1] = r


def _utc_offset_s(root):
    try:
        import json
        with open(root + "/config.json") as f:
            return int(json.load(f)["meter"]["utc_offset_min"]) * 60
    except (OSError, ValueError, KeyError, TypeError):
        return 0


class AdcSim:
    def __init__(self, board, rate, bits, cal):
        """`cal`: the front-end's calibration (board.CAL), whose counts it synthesizes."""
        self.board = board
        self.rate = rate
        self.bits = bits
        self.full = (1 << bits) - 1
        self.vcal = cal["vcal"]
        self.ical = cal["ical"]
        self.volts = float(os.getenv("METER_VOLTS") or 230)
        self.hz = float(os.getenv("METER_HZ") or 50)
        self.household = Household(int(os.getenv("METER_SEED") or 1))
        self.utc_offset_s = _utc_offset_s(board.root)
        self._vt = _table(_V_HARM)
        self._it = _table(_I_HARM)
        # phase, rng, step, ioff, vamp, iamp, mid, full
        self._st = array("i", (0, 1, 0, 0, 0, 0, 1 << (bits - 1), self.full))
        self.truth = None  # (vrms, irms, p, s, pf, hz) of the last window, analytic

    def load(self, t):
        """(watts, pf) drawn at meter second t: pf < 0 is leading; (0, 1.0) when open."""
        if not self.board.relay_closed():
            return 0, 1.0
        forced = override(self.board.root)
        if forced is not None:
            return forced
        hh = self.household
        return hh.watts(t, self.utc_offset_s), hh.pf(t, self.utc_offset_s)

    def sample(self, vbuf, ibuf):
        t = self.board.time()
        watts, pf = self.load(t)
        # supply: 3 V below nominal, +4 V at night, 1.5 V/kW sag, +-0.5 V jitter;
        # frequency wanders +-0.1 Hz over ten minutes
        night = 4 if (t + self.utc_offset_s) % 86400 < 6 * 3600 else 0
        vrms = self.volts - 3 + night - watts * 0.0015 + ((t * 40503 >> 5) % 11 - 5) / 10
        hz = self.hz + 0.1 * math.sin(2 * math.pi * (t % 600) / 600)
        forced = supply(self.board.root)      # <root>/supply: a sag, swell or Hz step
        if forced is not None:
            vrms = forced[0]
            hz = forced[1] or hz
        st = self._st
        vnorm = math.sqrt(1 + sum(a * a for _, a, _ in _V_HARM))
        inorm = math.sqrt(1 + sum(a * a for _, a, _ in _I_HARM))
        vp = round(vrms * math.sqrt(2) / vnorm / self.vcal * 16)   # peak counts, Q4
        phi = math.acos(min(abs(pf), 1.0)) * (1 if pf >= 0 else -1)   # + lagging
        # P = Vp Ip / 2 * (cos phi + harmonic cross terms): solve for the current peak
        k = math.cos(phi)
        for (h, a, pa), (_, b, pb) in zip(_V_HARM, _I_HARM):
            k += a * b * math.cos(pa - pb + h * phi)
        ip = 0
        if watts > 0 and k > 0 and vp > 0:
            ip = min(round(2 * watts / (self.vcal * self.ical) / (vp / 16) / k * 16), 65535)
        st[2] = round(hz / self.rate * (1 << 30))
        st[3] = round(phi / (2 * math.pi) * (1 << 30))
        st[4] = vp
        st[5] = ip
        _fill(vbuf, ibuf, len(vbuf), self._vt, self._it, st)
        v_true = vp / 16 * vnorm / math.sqrt(2) * self.vcal
        i_true = ip / 16 * inorm / math.sqrt(2) * self.ical
        p_true = (vp / 16) * (ip / 16) / 2 * k * self.vcal * self.ical
        s_true = v_true * i_true
        pf_true = math.copysign(p_true / s_true, phi) if s_true else 0.0
        self.truth = (v_true, i_true, p_true, s_true, pf_true, st[2] * self.rate / (1 << 30))
        return self.rate
