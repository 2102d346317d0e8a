"""Benchmark (make bench): the live heap of the complete firmware as it boots, frozen into
the interpreter (host_tools/frozen.py, what the simulated meters run) against the same
modules loaded from the loose .mpy bundle (host_tools/build.py, what `flash` copies) by the
pip-installed unix port that the module tests use. The baseline is not run on the frozen
interpreter: the firmware's interned strings are already in its ROM pool there, which would
hide their cost. The same two forms on the 32-bit unix port (host_tools/frozen.py bits=32),
whose objects are the ESP32's size: the frozen firmware, and the loose bundle compiled for
x86 on stock MicroPython, under the ESP32's 100k (fleet HEAP32) and 2m. Prints bytes per
phase and the ratio to the loose bundle of the same word size. Figures only: the budgets
themselves are held by the end-to-end tests.

One design option is measured beside them: the same loose bundle as a ROMFS image (mpremote
romfs build; MicroPython 1.25+ imports .mpy from a ROM filesystem in place, as it runs frozen
code). The image is read into the heap here, standing in for a flash partition, and its own
size is not counted."""
import json
import subprocess
import sys

from broker import free_port
from host_tools import adc_feed, frozen, pzem_sim
from host_tools.fleet import HEAP, HEAP32, bundle, firmware, firmware_cmd, upy_env

PROBE = """
import gc, sys
ROM = globals().get("ROM", 0)   # ROMFS: the image's own bytes are not the firmware's
def live():
    gc.collect()
    return gc.mem_alloc() - ROM
out = {"start": live()}
from board import Board
import meter
m = meter.boot(Board())
out["meter"] = live()
from web.app import build
app = build(m)
out["web"] = live()
out["from"] = sys.modules["meter"].__file__
print("HEAP", out)
"""


# The same figures before issue 13's pipeline work (main at 1843b50, measured with this
# bench): (meter, page built) bytes per (source, row), printed beside each run's for the
# before/after comparison the issue asks for.
BEFORE = {
    ("pzem", "frozen"): (49472, 66752), ("pzem", "loose .mpy, 2m"): (111488, 157248),
    ("pzem", "32 frozen"): (26544, 35344), ("pzem", "32 loose, 2m"): (76992, 118976),
    ("pzem", "32 romfs, 2m"): (43824, 66768),
    ("analog", "frozen"): (53952, 71232), ("analog", "loose .mpy, 2m"): (115776, 161664),
    ("analog", "32 frozen"): (31024, 39824), ("analog", "32 loose, 2m"): (82960, 115856),
    ("analog", "32 romfs, 2m"): (48592, 71536),
}


ROMFS = """
import gc, sys, vfs
gc.collect()
ROM = gc.mem_alloc()
with open(%r, "rb") as f:
    img = f.read()
vfs.mount(vfs.VfsRom(img), "/rom")
sys.path[:] = ["/rom", "/rom/lib", ".frozen"]
gc.collect()
ROM = gc.mem_alloc() - ROM
"""


def romfs(bundle_dir, img):
    """The bundle as a ROMFS image (its .mpy files as they are), with mpremote."""
    subprocess.run([sys.executable, "-m", "mpremote", "romfs", "--no-mpy", "-o", str(img),
                    "build", str(bundle_dir)], check=True, capture_output=True, timeout=120)
    return img


def boot(exe, cwd, root, heap, pre=""):
    """Boot in `cwd` with interpreter `exe` (None: the pip one), after code `pre`."""
    env = upy_env(cwd, root)
    env["MICROPYPATH"] = ":.frozen:lib"     # '' first: the cwd's modules, as with -m main
    r = subprocess.run(firmware_cmd(heap, exe=exe)[:-2] + ["-c", pre + PROBE], cwd=str(cwd),
                       env=env, capture_output=True, text=True, timeout=60)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("HEAP ")]
    if not line:
        return "failed: " + (r.stdout + r.stderr).strip().splitlines()[-1]
    return json.loads(line[0][5:].replace("'", '"'))


def test_bench_frozen_vs_loose_heap(tmp_path):
    fw, loose = frozen.firmware("unix_sim"), bundle("unix_sim")
    (exe32, fw32), (stock32, loose32) = firmware("frozen32"), firmware("loose32")
    rom = ROMFS % str(romfs(loose32, tmp_path / "romfs.img"))
    print("\nlive heap after gc.collect(), complete firmware (MQTT configured, page built), "
          "64-bit unix port under -X heapsize=%s and 2m, 32-bit under %s and 2m:"
          % (HEAP, HEAP32))
    for source in ("pzem", "analog"):
        root = tmp_path / source
        root.mkdir()
        cfg = {"meter": {"id": "m-bench"}, "measure": {"source": source},
               "token": {"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010},
               "mqtt": {"host": "127.0.0.1", "port": free_port()}, "web": {"port": free_port()}}
        (root / "config.json").write_text(json.dumps(cfg))
        sim = pzem_sim.spawn(root) if source == "pzem" else adc_feed.spawn(root)
        try:
            rows = {"frozen": boot(fw / "micropython", fw, root, HEAP),
                    "loose .mpy": boot(None, loose, root, HEAP),
                    "loose .mpy, 2m": boot(None, loose, root, "2m"),
                    "32 frozen": boot(exe32, fw32, root, HEAP32),
                    "32 loose .mpy": boot(stock32, loose32, root, HEAP32),
                    "32 loose, 2m": boot(stock32, loose32, root, "2m"),
                    "32 romfs, 2m": boot(stock32, root, root, "2m", rom)}
        finally:
            sim.terminate()
            sim.wait(5)
        for name, r in rows.items():
            if isinstance(r, str):
                print("  %-7s %-16s %s" % (source, name, r))
                continue
            base = rows["32 loose, 2m" if name.startswith("32") else "loose .mpy, 2m"]
            print("  %-7s %-16s boot %6d B   meter %6d B   page built %6d B   (%.2fx loose)  %s"
                  % (source, name, r["start"], r["meter"], r["web"], r["web"] / base["web"],
                     r["from"]))
            was = BEFORE.get((source, name))
            if was:
                print("  %-7s %-16s before issue 13: meter %6d B   page built %6d B   "
                      "(now %+d B, %+d B)" % (source, "", was[0], was[1], r["meter"] - was[0],
                                              r["web"] - was[1]))
        assert isinstance(rows["frozen"], dict), rows["frozen"]
        assert isinstance(rows["32 frozen"], dict), rows["32 frozen"]
