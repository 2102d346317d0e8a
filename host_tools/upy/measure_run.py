# Run under the unix-port MicroPython by host_tools.measure: the device's own analog
# measurement (measure.analog.Analog, viper kernels included) over raw ADC samples.
#   micropython measure_run.py JOB.json
# JOB: {"cases": [{"file": F, "rate": HZ, "bits": 12, "cycles": 0, "cals": [CAL, ...]}]}
# F holds n uint16 voltage counts then n current counts (native byte order). cycles 0
# measures every whole cycle in the file; N measures like the meter, one window of N
# cycles from the start. One JSON line per (case, cal), in order.
import sys
import json
from measure.analog import Analog, NO_SIGNAL

_STATUS = ("ok", "no_signal", "clipping")


class Replay:
    """An ADC that plays back a capture file: the one fake, standing for the pins."""

    def __init__(self, path, rate, bits):
        self.path, self.rate, self.bits = path, rate, bits
        with open(path, "rb") as f:
            self.total = f.seek(0, 2) // 4

    def sample(self, vbuf, ibuf):
        with open(self.path, "rb") as f:
            f.readinto(vbuf)
            f.seek(2 * self.total)
            f.readinto(ibuf)
        return self.rate


def run(case):
    adc = Replay(case["file"], case["rate"], case.get("bits", 12))
    cycles = case.get("cycles", 0)
    a = None
    for cal in case["cals"]:
        if a is None:
            if cycles:
                a = Analog(adc, cal, adc.rate, cycles)
            else:   # the whole capture: every cycle that fits
                a = Analog(adc, cal, adc.rate, adc.total, samples=adc.total)
            if a.n > adc.total:
                print(json.dumps({"error": "capture has %d samples; a %d-cycle window "
                                  "needs %d" % (adc.total, cycles, a.n)}))
                return
            adc.sample(a.vbuf, a.ibuf)
        else:
            a.vcal, a.ical = float(cal["vcal"]), float(cal["ical"])
            a.phasecal = float(cal.get("phasecal", 1.0))
            a.icreep = float(cal.get("icreep", 3 * a.ical))
        res = a.compute(adc.rate)
        out = {"status": _STATUS[res], "n": a.n}
        if res != NO_SIGNAL:
            out.update({"vrms": a.vrms, "irms": a.irms, "p": a.p, "s": a.s, "pf": a.pf,
                        "hz": a.hz, "phi": a.phi})
        print(json.dumps(out))


with open(sys.argv[1]) as f:
    job = json.load(f)
for c in job["cases"]:
    run(c)
