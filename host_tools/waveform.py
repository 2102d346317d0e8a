"""Synthesize sampled mains voltage and current as raw ADC counts, with the analytic truth.

    python -m host_tools.waveform OUT.csv --hz 50 --vrms 230 --irms 5 --pf -0.8 [--seconds 1]

writes a CSV (header `v,i`, integer counts) that `python -m host_tools.measure` reads, and
prints the exact truth (vrms, irms, p, s, pf, hz) as JSON. Tests use `synth()` directly.

The model: a fundamental plus 3rd and 5th harmonics on each channel, a DC offset,
Gaussian noise, rounding to integer counts and clamping to the ADC range. PF is the
fundamental's displacement: + lagging (current behind voltage), - leading. The current's
harmonics keep their shape relative to its fundamental (i(t) = shape(wt - phi)). The truth
is computed from the continuous signal, before noise and quantization:
  Vrms = Vp/sqrt2 * sqrt(1 + a3^2 + a5^2),  Irms likewise with b3, b5,
  P = Vp Ip / 2 * (cos phi + a3 b3 cos(al3 - be3 + 3 phi) + a5 b5 cos(al5 - be5 + 5 phi)),
  S = Vrms Irms, PF = P / S signed like phi.
`i_delay` (samples) samples the current channel later than the voltage, as a sequential
ADC does; phasecal = 1 + i_delay corrects it.
"""
import argparse
import json
import math
import random
import sys
from dataclasses import dataclass


@dataclass
class Wave:
    rate: int = 4000          # samples/s per channel
    n: int = 0                # samples; 0 = `seconds` worth
    seconds: float = 0.25
    bits: int = 12
    hz: float = 50.0
    vrms: float = 230.0       # true RMS, V (harmonics included)
    irms: float = 5.0         # true RMS, A
    pf: float = 1.0           # fundamental displacement: cos(phi), + lag, - lead
    vcal: float = 0.3         # V per count
    ical: float = 0.01        # A per count
    v_dc: float = 2048.0      # DC offset, counts
    i_dc: float = 2048.0
    v3: float = 0.0           # harmonic amplitudes relative to the fundamental
    v5: float = 0.0
    i3: float = 0.0
    i5: float = 0.0
    v3_ph: float = math.pi    # harmonic phases, radians
    v5_ph: float = 0.0
    i3_ph: float = 0.0
    i5_ph: float = math.pi
    noise: float = 0.0        # Gaussian noise, counts RMS, on each channel
    start: float = 0.0        # phase of the voltage at sample 0, radians
    i_delay: float = 0.0      # current sampled this many sample periods after voltage
    seed: int = 1

    @property
    def phi(self):
        return math.copysign(math.acos(min(abs(self.pf), 1.0)), self.pf)

    def truth(self):
        phi = self.phi
        k = (math.cos(phi) + self.v3 * self.i3 * math.cos(self.v3_ph - self.i3_ph + 3 * phi)
             + self.v5 * self.i5 * math.cos(self.v5_ph - self.i5_ph + 5 * phi))
        vn = math.sqrt(1 + self.v3 ** 2 + self.v5 ** 2)
        i_n = math.sqrt(1 + self.i3 ** 2 + self.i5 ** 2)
        p = self.vrms * self.irms * k / (vn * i_n)
        s = self.vrms * self.irms
        pf = p / s if s else 0.0
        return {"vrms": self.vrms, "irms": self.irms, "p": p, "s": s,
                "pf": math.copysign(pf, phi) if phi else pf, "hz": self.hz}


def synth(w):
    """(v counts, i counts, truth) for Wave w."""
    n = w.n or int(w.rate * w.seconds)
    vp = w.vrms * math.sqrt(2) / math.sqrt(1 + w.v3 ** 2 + w.v5 ** 2) / w.vcal
    ip = w.irms * math.sqrt(2) / math.sqrt(1 + w.i3 ** 2 + w.i5 ** 2) / w.ical
    phi, full = w.phi, (1 << w.bits) - 1
    rnd = random.Random(w.seed)
    dw = 2 * math.pi * w.hz / w.rate
    v, i = [], []
    for k in range(n):
        a = w.start + k * dw
        x = math.sin(a) + w.v3 * math.sin(3 * a + w.v3_ph) + w.v5 * math.sin(5 * a + w.v5_ph)
        b = a + w.i_delay * dw - phi
        y = math.sin(b) + w.i3 * math.sin(3 * b + w.i3_ph) + w.i5 * math.sin(5 * b + w.i5_ph)
        xv = w.v_dc + vp * x + (rnd.gauss(0, w.noise) if w.noise else 0)
        yi = w.i_dc + ip * y + (rnd.gauss(0, w.noise) if w.noise else 0)
        v.append(min(max(round(xv), 0), full))
        i.append(min(max(round(yi), 0), full))
    return v, i, w.truth()


def write_csv(path, v, i):
    with open(path, "w") as f:
        f.write("v,i\n")
        f.writelines(f"{a},{b}\n" for a, b in zip(v, i))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="CSV file to write (header v,i)")
    for name, default in Wave.__dataclass_fields__.items():
        d = default.default
        ap.add_argument("--" + name.replace("_", "-"), type=type(d), default=d)
    a = ap.parse_args(argv)
    w = Wave(**{k: getattr(a, k) for k in Wave.__dataclass_fields__})
    v, i, truth = synth(w)
    write_csv(a.out, v, i)
    print(json.dumps(truth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
