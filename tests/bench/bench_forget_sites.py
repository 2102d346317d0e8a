"""Benchmark (make bench): what each load-and-forget site saves on the ESP32's heap. The
complete firmware boots (MQTT configured, page built) on the 32-bit unix port (the ESP32's
object sizes) in both forms a board can carry it: the loose .mpy bundle on stock MicroPython
and the image with the firmware frozen in. Then each module the firmware loads for one job
and drops after is imported once more and left resident: the growth of the live heap is what
dropping it saves. A site stays in the firmware only where this figure pays for the
indirection (issue 13): its comment quotes the loose figure printed here."""
import json
import subprocess

from broker import free_port
from host_tools import adc_feed
from host_tools.fleet import firmware, firmware_cmd, upy_env

# Modules the firmware imports for one job and drops after (the sites, by module)
SITES = ("config", "meter_setup", "prepay.tariff_parse", "credit.setup", "credit.actions", "prepay.opaygo",
         "journal.scan", "sync.setup", "sync.commands", "prepay.protocol", "prepay.days_left")

PROBE = """
import gc, sys
def live():
    gc.collect()
    return gc.mem_alloc()
from board import Board
import meter
m = meter.boot(Board())
from web.app import build
app = build(m)
out = {"booted": live()}
for name in %r:
    before = set(sys.modules)
    base = live()
    try:
        __import__(name)
        out[name] = live() - base
    except ImportError:
        out[name] = None     # not a module of this firmware
    for k in list(sys.modules):
        if k not in before:
            del sys.modules[k]
            pkg, _, sub = k.rpartition(".")
            p = sys.modules.get(pkg)
            if p is not None and sub in p.__dict__:
                del p.__dict__[sub]
print("SITES", out)
"""


def measure(exe, cwd, root, sites=SITES):
    env = upy_env(cwd, root)
    env["MICROPYPATH"] = ":.frozen:lib"
    r = subprocess.run(firmware_cmd("2m", exe=exe)[:-2] + ["-c", PROBE % (sites,)],
                       cwd=str(cwd), env=env, capture_output=True, text=True, timeout=60)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("SITES ")]
    assert line, (r.stdout + r.stderr)[-800:]
    return json.loads(line[0][6:].replace("'", '"').replace("None", "null"))


def test_bench_forget_sites(tmp_path):
    (exe32, fw32), (stock32, loose32) = firmware("frozen32"), firmware("loose32")
    root = tmp_path / "analog"
    root.mkdir()
    cfg = {"meter": {"id": "m-bench"}, "measure": {"source": "analog"},
           "token": {"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010},
           "mqtt": {"host": "127.0.0.1", "port": free_port()}, "web": {"port": free_port()}}
    (root / "config.json").write_text(json.dumps(cfg))
    sim = adc_feed.spawn(root)
    try:
        loose = measure(stock32, loose32, root)
        frz = measure(exe32, fw32, root)
    finally:
        sim.terminate()
        sim.wait(5)
    print("\nlive heap a module adds when kept resident, 32-bit unix port (ESP32 object sizes), "
          "after boot and page build (loose booted at %d B, frozen at %d B):"
          % (loose["booted"], frz["booted"]))
    for name in SITES:
        print("  %-22s loose .mpy %8s B   frozen %8s B" % (name, loose[name], frz[name]))
