"""Derive an analog meter's calibration (vcal, ical, phasecal) from a capture and reference
readings, using the meter's own measurement code (host_tools.measure, under MicroPython).

    python -m host_tools.calibrate CAPTURE.csv --rate 4000 --ref-v 230.1 --ref-i 4.52 \\
        [--ref-p 1000] [--noload IDLE.csv] [--cal BASE.json] [--board esp32_analog] \\
        [--out CAL.json]

CAPTURE.csv is raw ADC counts (header `v,i`) taken while a reference meter read ref-v
volts, ref-i amps and (optionally) ref-p watts on the same circuit. The capture is
measured in counts; vcal = ref-v / Vrms(counts) and ical = ref-i / Irms(counts).
phasecal (emonLib style: 1 = no shift, 1 + d shifts the voltage d samples later):
  - with --ref-p for a resistive load (ref-p >= 0.995 * ref-v * ref-i, or at most 1 %
    above the largest power any phasecal gives, as harmonics lower the PF of an in-phase
    load): the value that brings the fundamental current into phase with the voltage
    (measured by the device's single-bin DFT), i.e. aligns the two sensors;
  - with --ref-p for a reactive load: the value nearest the base whose real power matches
    ref-p (the lead/lag side is the one nearer the base phasecal);
  - without --ref-p: kept from --cal or the board's CAL.
icreep (A; the current below which the meter reads 0 A and 0 W): with --noload, a
capture with the mains on and no load, 1.5 times its noise current (at least 3 counts);
otherwise kept from --cal or the board's CAL.
The result is written as JSON (vcal, ical, phasecal) for the meter config's "analog"
section, and checked by measuring the capture again with it.
"""
import argparse
import json
import math
import sys

from host_tools import measure as M

_LO, _HI = -1.0, 3.0     # phasecal search range (samples of shift: -2 .. +2)
_POINTS = 41             # per search round, each one micropython run


def _grid(lo, hi):
    return [lo + (hi - lo) * k / (_POINTS - 1) for k in range(_POINTS)]


def _powers(v, i, rate, bits, vcal, ical, fs):
    cals = [{"vcal": vcal, "ical": ical, "phasecal": f} for f in fs]
    return [r["p"] for r in M.measure(v, i, rate, cals, bits)]


def _in_phase(v, i, rate, bits, vcal, ical, base):
    """phasecal that puts the fundamental current in phase with the voltage: the device
    reports phi(f) = phi(base) + (f - base) * w, w radians per sample."""
    f = base
    for _ in range(2):   # exact after one step; the second run confirms it
        r = M.measure(v, i, rate, [{"vcal": vcal, "ical": ical, "phasecal": f}], bits)[0]
        f -= r["phi"] / (2 * math.pi * r["hz"] / rate)
    return f


def _phasecal(v, i, rate, bits, vcal, ical, ref_p, resistive, base):
    """For a reactive reference, search the phasecal whose real power is ref_p in rounds
    of _POINTS, each 20x finer around the root nearest base."""
    if resistive:
        return _in_phase(v, i, rate, bits, vcal, ical, base)
    lo, hi = _LO, _HI
    best = None
    for _ in range(4):
        fs = _grid(lo, hi)
        ps = _powers(v, i, rate, bits, vcal, ical, fs)
        roots = []
        for k in range(len(fs) - 1):
            a, b = ps[k] - ref_p, ps[k + 1] - ref_p
            if a == 0 or a * b < 0:
                roots.append(fs[k] + (fs[k + 1] - fs[k]) * a / (a - b))
        if not roots:
            if best is not None:
                break   # the root sits on this round's grid: done
            if max(ps) <= ref_p <= 1.01 * max(ps):
                # just above the peak: an in-phase load whose harmonics lower its PF
                return _in_phase(v, i, rate, bits, vcal, ical, base)
            raise M.MeasureError(
                f"no phasecal in {_LO}..{_HI} gives {ref_p} W (measured "
                f"{min(ps):.1f}..{max(ps):.1f} W): check the reference readings")
        best = min(roots, key=lambda f: abs(f - base))
        step = (hi - lo) / (_POINTS - 1)
        lo, hi = best - step, best + step
    return best


def noise_counts(v, i, rate, bits=12):
    """RMS current (counts) of a no-load capture: the ADC's noise floor."""
    r = M.measure(v, i, rate, [{"vcal": 1.0, "ical": 1.0, "phasecal": 1.0, "icreep": 0.0}],
                  bits)[0]
    if r["status"] != "ok":
        raise M.MeasureError(f"--noload capture: {r['status'].replace('_', ' ')}")
    return r["irms"]


def calibrate(v, i, rate, ref_v, ref_i, ref_p=None, base=None, bits=12, noise=None):
    """The calibration dict for samples v, i and the reference readings; noise is the
    no-load current in counts, if measured."""
    base = dict(base or {"vcal": 1.0, "ical": 1.0, "phasecal": 1.0})
    for name, x in (("--ref-v", ref_v), ("--ref-i", ref_i)):
        if not x > 0:
            raise M.MeasureError(f"{name} must be > 0, got {x}")
    if ref_p is not None and not 0 < ref_p <= 1.02 * ref_v * ref_i:
        raise M.MeasureError(f"--ref-p {ref_p} W is not possible at {ref_v} V and {ref_i} A "
                             f"(at most {ref_v * ref_i:.1f} W)")
    unit = M.measure(v, i, rate, [{"vcal": 1.0, "ical": 1.0,
                                   "phasecal": base["phasecal"]}], bits)[0]
    if unit["status"] == "no_signal":
        raise M.MeasureError("no mains signal on the voltage channel")
    if unit["status"] == "clipping":
        raise M.MeasureError("the capture clips at the ADC rails; reduce the gain or load")
    if unit["irms"] <= 0:
        raise M.MeasureError("no current on the current channel (below the noise "
                             "threshold); calibrate with a load switched on")
    cal = {"vcal": ref_v / unit["vrms"], "ical": ref_i / unit["irms"],
           "phasecal": base["phasecal"]}
    if noise is not None:
        if 1.5 * noise >= 0.5 * unit["irms"]:
            raise M.MeasureError(f"the no-load capture's current ({noise:.1f} counts) is not "
                                 f"well below the loaded one ({unit['irms']:.1f})")
        cal["icreep"] = max(3.0, 1.5 * noise) * cal["ical"]
    elif "icreep" in base:
        cal["icreep"] = base["icreep"]
    if ref_p is not None:
        resistive = ref_p >= 0.995 * ref_v * ref_i
        cal["phasecal"] = _phasecal(v, i, rate, bits, cal["vcal"], cal["ical"], ref_p,
                                    resistive, base["phasecal"])
    return {k: float("%.6g" % x) for k, x in cal.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="capture: header v,i then integer ADC counts")
    ap.add_argument("--rate", type=int, required=True, help="samples/s per channel")
    ap.add_argument("--ref-v", type=float, required=True, help="reference voltage, V RMS")
    ap.add_argument("--ref-i", type=float, required=True, help="reference current, A RMS")
    ap.add_argument("--ref-p", type=float, help="reference real power, W")
    ap.add_argument("--noload", help="capture with the mains on and no load, for icreep")
    ap.add_argument("--cal", help="base CAL.json (its phasecal is kept without --ref-p)")
    ap.add_argument("--board", default="unix_sim", help="board whose CAL is the base")
    ap.add_argument("--bits", type=int, default=12, help="ADC resolution")
    ap.add_argument("--out", default="CAL.json", help="where to write the calibration")
    a = ap.parse_args(argv)
    try:
        if a.rate <= 0:
            raise M.MeasureError(f"--rate must be > 0, got {a.rate}")
        base = M.load_cal(a.cal, a.board)
        v, i = M.load_csv(a.csv, a.bits)
        noise = None
        if a.noload:
            noise = noise_counts(*M.load_csv(a.noload, a.bits), a.rate, a.bits)
        cal = calibrate(v, i, a.rate, a.ref_v, a.ref_i, a.ref_p, base, a.bits, noise)
        check = M.measure(v, i, a.rate, [cal], a.bits)[0]
    except M.MeasureError as e:
        print(f"calibrate: error: {e}", file=sys.stderr)
        return 2
    try:
        with open(a.out, "w") as f:
            json.dump(cal, f, indent=1)
            f.write("\n")
    except OSError as e:
        print(f"calibrate: error: cannot write {a.out}: {e.strerror}", file=sys.stderr)
        return 2
    print(json.dumps({"cal": cal, "check": {k: round(check[k], 4) for k in M.KEYS}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
