"""Benchmark (make bench): the live heap of the complete firmware as it boots, frozen into
the interpreter (host_tools/frozen.py, what the simulated meters run) against the same
modules loaded from the loose .mpy bundle (host_tools/build.py, what `flash` copies) by the
pip-installed unix port that the module tests use. The baseline is not run on the frozen
interpreter: the firmware's interned strings are already in its ROM pool there, which would
hide their cost. Prints bytes per phase and the ratio. Figures only: the 128k budget itself
is held by the end-to-end tests."""
import json
import subprocess

from broker import free_port
from host_tools import adc_feed, frozen, pzem_sim
from host_tools.fleet import HEAP, bundle, firmware_cmd, upy_env

PROBE = """
import gc, sys
def live():
    gc.collect()
    return gc.mem_alloc()
out = {"start": live()}
from board import Board
import meter
m = meter.Meter(Board())
out["meter"] = live()
from web.app import build
app = build(m)
out["web"] = live()
out["from"] = sys.modules["meter"].__file__
print("HEAP", out)
"""


def boot(fw, cwd, root, heap):
    """Boot in `cwd` with the frozen interpreter of `fw`, or the pip one when fw is None."""
    env = upy_env(cwd, root)
    env["MICROPYPATH"] = ":.frozen:lib"     # '' first: the cwd's modules, as with -m main
    r = subprocess.run(firmware_cmd(heap, fw)[:-2] + ["-c", PROBE], cwd=str(cwd), env=env,
                       capture_output=True, text=True, timeout=60)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("HEAP ")]
    if not line:
        return "did not boot: " + (r.stdout + r.stderr).strip().splitlines()[-1]
    return json.loads(line[0][5:].replace("'", '"'))


def test_bench_frozen_vs_loose_heap(tmp_path):
    fw, loose = frozen.firmware("unix_sim"), bundle("unix_sim")
    print("\nlive heap after gc.collect(), complete firmware (MQTT configured, page built), "
          "64-bit unix port, -X heapsize=%s and 2m:" % HEAP)
    for source in ("pzem", "analog"):
        root = tmp_path / source
        root.mkdir()
        cfg = {"meter": {"id": "m-bench"}, "measure": {"source": source},
               "token": {"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010},
               "mqtt": {"host": "127.0.0.1", "port": free_port()}, "web": {"port": free_port()}}
        (root / "config.json").write_text(json.dumps(cfg))
        sim = pzem_sim.spawn(root) if source == "pzem" else adc_feed.spawn(root)
        try:
            rows = {"frozen": boot(fw, fw, root, HEAP),
                    "loose .mpy": boot(None, loose, root, HEAP),
                    "loose .mpy, 2m": boot(None, loose, root, "2m")}
        finally:
            sim.terminate()
            sim.wait(5)
        base = rows["loose .mpy, 2m"]
        for name, r in rows.items():
            if isinstance(r, str):
                print("  %-7s %-16s %s" % (source, name, r))
                continue
            print("  %-7s %-16s boot %6d B   meter %6d B   page built %6d B   (%.2fx loose)  %s"
                  % (source, name, r["start"], r["meter"], r["web"], r["web"] / base["web"],
                     r["from"]))
        assert isinstance(rows["frozen"], dict), rows["frozen"]
