"""Fleet simulator: n provisioned meters running the real firmware on the unix port.

    from host_tools.fleet import Fleet
    f = Fleet("run/", "127.0.0.1", broker_port, n=4, speed=600, source="analog",
              store=store, epoch=1767225600)
    f.start()                  # provisions (once), builds the frozen firmware, starts meters
    f.gateway                  # (user, password) for Ingest; f.passwd / f.acl for mosquitto
    f.net_down(i); f.net_up(i) # WiFi loss for meter i (its <root>/netdown file)
    f.kill(i); f.restart(i)    # power loss / restart of meter i
    f.meter_time()             # the simulated UTC clock (the gateway's time source in tests)
    f.stop()

Each meter is `micropython -X heapsize=<heap> -m main` where `micropython` is the unix port
with the firmware frozen in, as an ESP32 image carries it (host_tools/frozen.py: device/ +
board + prepay + libs), run from its flash image directory (main.py, www/), with METER_ROOT
(its flash directory), METER_SPEED (meter seconds per real second) and METER_EPOCH (its RTC
at first boot; omit with epoch=None for an unsynced clock that the gateway sets over MQTT).
A pzem meter also gets `python -m host_tools.pzem_sim --root DIR`, an analog meter
host_tools.adc_feed (its simulated front-end, out of the meter's heap); both outlive
kill/restart of the meter, as hardware outlives a firmware crash.
Meter stdout/stderr go to <root>/console.log. The heap is `heap`, else HEAP.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools import adc_feed
from host_tools import build as fwbuild
from host_tools import frozen
from host_tools import pzem_sim
from host_tools.provision import Provisioner, merge

REPO = Path(__file__).resolve().parent.parent
# The heap every meter runs in (README "Memory"): the 128k budget, for the complete
# firmware - metering, credit, journal, MQTT sync and the microdot page. METER_HEAP overrides.
HEAP = os.environ.get("METER_HEAP", "128k")
MICROPYTHON = str(Path(sys.executable).parent / "micropython")
if not os.path.exists(MICROPYTHON):
    MICROPYTHON = shutil.which("micropython") or "micropython"


def bundle(board="unix_sim", cache=REPO / "build"):
    """Path of the compiled firmware bundle for `board`, built once per source content (a
    content hash names the directory, so concurrent builders never clash)."""
    out = Path(cache) / ("fw-%s-%s" % (board, fwbuild.digest(board).hexdigest()[:12]))
    if not out.exists():
        Path(cache).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fw-", dir=cache))
        fwbuild.build(board, tmp / "b", "x64")
        try:
            os.rename(tmp / "b", out)
        except OSError:
            pass            # another process won the race with identical content
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def firmware_cmd(heap, fw=None):
    """How a meter boots: main run as a module from its flash root (the cwd), so sys.path
    is ['', '.frozen', 'lib'] as on an ESP32. `fw` is a frozen firmware directory
    (host_tools/frozen.py) whose interpreter carries the modules; without it the loose .mpy
    bundle in the cwd is loaded by the pip-installed interpreter."""
    exe = str(Path(fw) / "micropython") if fw else MICROPYTHON
    return [exe, "-X", "heapsize=" + heap, "-m", "main"]


def upy_env(fw, root, speed=1, epoch=None, extra_path=(), **env):
    """Environment for a firmware process run with cwd = the bundle `fw`."""
    e = dict(os.environ)
    e["MICROPYPATH"] = ":".join([".frozen", "lib"] + [str(p) for p in extra_path])
    e["METER_ROOT"] = str(root)
    e["METER_SPEED"] = str(int(speed))
    if epoch is not None:
        e["METER_EPOCH"] = str(int(epoch))
    else:
        e.pop("METER_EPOCH", None)
    e.update({k: str(v) for k, v in env.items()})
    return e


class Meter:
    """One simulated meter: its firmware process and its front-end simulator."""

    def __init__(self, fleet, meter_id, root, source, seed=1, web_port=0):
        self.f = fleet
        self.seed = seed          # each household's load profile differs
        self.web_port = web_port  # its consumer page, 0: none
        self.id = meter_id
        self.root = Path(root)
        self.source = source
        self.proc = None
        self.sim = None
        self.starts = 0

    def start(self):
        f = self.f
        extra = dict({"METER_SEED": self.seed}, **f.env)
        if self.sim is None or self.sim.poll() is not None:
            if self.source == "pzem":
                self.sim = pzem_sim.spawn(self.root, "--speed", int(f.speed), "--seed", self.seed)
            elif self.source == "analog":
                self.sim = adc_feed.spawn(self.root, env=extra)
        env = upy_env(f.fw, self.root, f.speed, f.epoch, **extra)
        log = open(self.root / "console.log", "ab")
        self.proc = subprocess.Popen(firmware_cmd(f.heap, f.fw),
                                     cwd=str(f.fw), env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self.starts += 1
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """Power loss: SIGKILL, no chance to flush anything."""
        if self.running:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.running:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            try:
                self.sim.wait(3)
            except subprocess.TimeoutExpired:
                self.sim.kill()
        self.sim = None

    def restart(self):
        self.kill()
        return self.start()

    def net_down(self):
        (self.root / "netdown").write_text("1")

    def net_up(self):
        try:
            (self.root / "netdown").unlink()
        except FileNotFoundError:
            pass

    def console(self):
        try:
            return (self.root / "console.log").read_text(errors="replace")
        except OSError:
            return ""


class Fleet:
    def __init__(self, root_dir, broker_host, broker_port, n, speed=1, source="analog",
                 store=None, db=None, epoch=None, prefix="pm", config=None, heap=None,
                 id_format="m-%03d", env=None, web_port=0):
        self.root = Path(root_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host, self.port = broker_host, broker_port
        self.speed = speed
        self.epoch = epoch
        self.heap = heap or HEAP
        self.env = env or {}
        self.t0 = time.time()     # real time at which meter time == epoch (see meter_time)
        self.prov = Provisioner(self.root / "provision", prefix)
        self.meters = []
        kinds = [source] * n if isinstance(source, str) else list(source)
        for i in range(n):
            mid = id_format % (i + 1)
            cfg = merge({"web": {"port": web_port + i if web_port else 0},
                         "measure": {"window_ms": self.window_ms(speed)}},
                        json.loads(json.dumps(config or {})))
            root = self.root / mid
            self.prov.add_meter(mid, root, broker_host, broker_port, kinds[i], store=store,
                                db=db, config=cfg)
            self.meters.append(Meter(self, mid, root, kinds[i], seed=i + 1,
                                     web_port=cfg["web"]["port"]))
        self.passwd, self.acl = self.prov.write_broker_files()
        self.fw = None

    @staticmethod
    def window_ms(speed):
        """A metering window of at least ~25 real ms, so an accelerated meter is not
        busy-looping (the meter's own setting measure.window_ms, in meter time)."""
        return max(1000, int(speed) * 25 // 1000 * 1000)

    @property
    def gateway(self):
        return self.prov.gateway

    def meter_time(self):
        """The meters' simulated UTC clock: epoch + (real time since start) x speed."""
        return int((self.epoch or self.t0) + (time.time() - self.t0) * self.speed)

    def __getitem__(self, i):
        return self.meters[i]

    def __len__(self):
        return len(self.meters)

    def start(self):
        self.fw = self.fw or frozen.firmware()
        self.t0 = time.time()
        for m in self.meters:
            m.start()
        return self

    def stop(self):
        for m in self.meters:
            m.stop()

    def net_down(self, i):
        self.meters[i].net_down()

    def net_up(self, i):
        self.meters[i].net_up()

    def kill(self, i):
        self.meters[i].kill()

    def restart(self, i):
        self.meters[i].restart()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
