"""Measure a capture of raw ADC samples with the meter's own code, run under MicroPython.

    python -m host_tools.measure FILE.csv --rate HZ [--cal CAL.json] [--board B] [--bits 12]

FILE.csv has the header `v,i` and one line of integer ADC counts per sample (voltage
channel, current channel). The device's measure.analog code, viper kernels included,
runs inside the unix-port `micropython` over every whole mains cycle in the capture and
one JSON object is printed: {"vrms", "irms", "p", "s", "pf", "hz"}. Calibration comes
from the board's CAL defaults (--board, default unix_sim), with any keys in CAL.json
(vcal, ical, phasecal, icreep) taking precedence.

Bad input (missing file, wrong header, non-integer or out-of-range counts, a capture too
short to hold a mains cycle) is reported on stderr with exit status 2; a capture with no
mains signal exits 1; a clipped capture is measured but warned about on stderr.
"""
import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "upy" / "measure_run.py"
KEYS = ("vrms", "irms", "p", "s", "pf", "hz")
MAX_SAMPLES = 1 << 19      # the kernels' exact-sum limit (device/measure/kernels.py)
MIN_SAMPLES = 200          # below this not even two 45 Hz cycles fit at 4 kHz


class MeasureError(Exception):
    """Bad input: the message says what and where."""


def micropython():
    exe = Path(sys.executable).parent / "micropython"
    found = str(exe) if exe.exists() else shutil.which("micropython")
    if not found:
        raise MeasureError("the unix-port `micropython` command is not installed (make venv)")
    return found


def board_cal(board):
    """The CAL dict literal of boards/<board>/board.py, read without importing it (the
    ESP32 boards import machine)."""
    path = REPO / "boards" / board / "board.py"
    try:
        tree = ast.parse(path.read_text())
    except OSError:
        raise MeasureError(f"unknown board {board!r} (no {path})")
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CAL"
                                                for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise MeasureError(f"{path} has no CAL")


CAL_KEYS = ("vcal", "ical", "phasecal", "icreep")   # icreep is optional


def check_cal(cal, where="calibration"):
    out = {}
    for k in CAL_KEYS:
        if k not in cal:
            if k == "icreep":
                continue
            raise MeasureError(f"{where}: missing {k}")
        x = cal[k]
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise MeasureError(f"{where}: {k} must be a number, got {x!r}")
        if k in ("vcal", "ical") and not x > 0:
            raise MeasureError(f"{where}: {k} must be > 0, got {x!r}")
        if k == "icreep" and not x >= 0:
            raise MeasureError(f"{where}: icreep must be >= 0, got {x!r}")
        out[k] = float(x)
    return out


def load_cal(path, board="unix_sim"):
    cal = board_cal(board)
    if path:
        try:
            doc = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise MeasureError(f"{path}: no such calibration file")
        except (OSError, ValueError) as e:
            raise MeasureError(f"{path}: not a JSON calibration file ({e})")
        if not isinstance(doc, dict):
            raise MeasureError(f"{path}: expected a JSON object with vcal, ical, phasecal")
        unknown = set(doc) - set(CAL_KEYS)
        if unknown:
            raise MeasureError(f"{path}: unknown keys {sorted(unknown)}")
        cal.update(doc)
    return check_cal(cal, str(path or f"board {board} CAL"))


def load_csv(path, bits=12):
    """(v, i) lists of counts from a `v,i` CSV, validated line by line."""
    full = (1 << bits) - 1
    try:
        f = open(path, newline="")
    except FileNotFoundError:
        raise MeasureError(f"{path}: no such file")
    except OSError as e:
        raise MeasureError(f"{path}: cannot read ({e.strerror})")
    v, i = [], []
    with f:
        try:
            head = f.readline().strip().replace(" ", "")
            if head != "v,i":
                raise MeasureError(f"{path}:1: expected the header 'v,i', got {head[:40]!r}")
            for ln, line in enumerate(f, 2):
                line = line.strip()
                if not line:
                    continue
                parts = line.split(",")
                if len(parts) != 2:
                    raise MeasureError(f"{path}:{ln}: expected 2 values, got {len(parts)}")
                try:
                    a, b = int(parts[0]), int(parts[1])
                except ValueError:
                    raise MeasureError(f"{path}:{ln}: not integer ADC counts: {line[:40]!r}")
                if not (0 <= a <= full and 0 <= b <= full):
                    raise MeasureError(f"{path}:{ln}: count outside 0..{full} ({bits}-bit ADC)")
                v.append(a)
                i.append(b)
        except UnicodeDecodeError:
            raise MeasureError(f"{path}: not a text CSV file")
    if len(v) < MIN_SAMPLES:
        raise MeasureError(f"{path}: {len(v)} samples; at least {MIN_SAMPLES} needed")
    if len(v) > MAX_SAMPLES:
        raise MeasureError(f"{path}: {len(v)} samples; at most {MAX_SAMPLES} per capture")
    return v, i


def write_bin(path, v, i):
    """The runner's input: n uint16 V counts then n I counts, native byte order."""
    with open(path, "wb") as f:
        array("H", v).tofile(f)
        array("H", i).tofile(f)


def run_jobs(cases, heap=None, timeout=300):
    """Run measure_run.py over cases (see its header); one result dict per (case, cal).
    heap: MicroPython heap cap; default sized for the largest capture."""
    n = sum(1 for c in cases for _ in c["cals"])
    if heap is None:   # the buffers are the file's size; plus headroom
        heap = "%dk" % (256 + 3 * max(os.path.getsize(c["file"]) for c in cases) // 1024)
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(REPO / "device"))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as jf:
        json.dump({"cases": cases}, jf)
    try:
        r = subprocess.run([micropython(), "-X", "heapsize=" + heap, str(RUNNER), jf.name],
                           capture_output=True, text=True, env=env, timeout=timeout)
    finally:
        os.unlink(jf.name)
    out = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or len(out) != n:
        raise RuntimeError(f"micropython measurement failed ({r.returncode}):\n"
                           f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
    for o in out:
        if "error" in o:
            raise MeasureError(o["error"])
    return out


def measure(v, i, rate, cals, bits=12, cycles=0):
    """Measure sample lists with each calibration in cals; a list of result dicts
    (status, vrms, irms, p, s, pf, hz), computed by the device code under MicroPython."""
    if not isinstance(rate, int) or rate <= 0:
        raise MeasureError(f"--rate must be a positive integer (samples/s), got {rate!r}")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "capture.bin")
        write_bin(path, v, i)
        return run_jobs([{"file": path, "rate": rate, "bits": bits, "cycles": cycles,
                          "cals": [check_cal(c) for c in cals]}])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="capture: header v,i then integer ADC counts")
    ap.add_argument("--rate", type=int, required=True, help="samples/s per channel")
    ap.add_argument("--cal", help="CAL.json with vcal, ical, phasecal")
    ap.add_argument("--board", default="unix_sim", help="board whose CAL is the default")
    ap.add_argument("--bits", type=int, default=12, help="ADC resolution")
    a = ap.parse_args(argv)
    try:
        if a.rate <= 0:
            raise MeasureError(f"--rate must be > 0, got {a.rate}")
        if not 8 <= a.bits <= 16:
            raise MeasureError(f"--bits must be 8..16, got {a.bits}")
        cal = load_cal(a.cal, a.board)
        v, i = load_csv(a.csv, a.bits)
        res = measure(v, i, a.rate, [cal], a.bits)[0]
    except MeasureError as e:
        print(f"measure: error: {e}", file=sys.stderr)
        return 2
    if res["status"] == "no_signal":
        print(f"measure: {a.csv}: no mains signal (no whole cycle of 45..65 Hz on the "
              "voltage channel)", file=sys.stderr)
        return 1
    if res["status"] == "clipping":
        print(f"measure: warning: {a.csv}: samples at the ADC rails (clipping); the RMS "
              "values read low", file=sys.stderr)
    print(json.dumps({k: round(res[k], 6) for k in KEYS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
