"""Fleet simulator: n provisioned meters running the real firmware on the unix port.

    from host_tools.fleet import Fleet
    f = Fleet("run/", "127.0.0.1", broker_port, n=4, speed=600, source="analog",
              store=store, epoch=1767225600)
    f.start()                  # provisions (once), builds the frozen firmware, starts meters
    f.gateway                  # (user, password) for Ingest; f.passwd / f.acl for mosquitto
    Fleet(..., broker_port=tls_port, ca=ca_file)   # meters over TLS (host_tools/tlsca.py)
    f.net_down(i); f.net_up(i) # WiFi loss for meter i: its access point goes away
                               # (host_tools/wifiworld.py: the station drops, the link proxy
                               # cuts its sockets), and comes back (it rejoins in ~3 s)
    f.kill(i); f.restart(i)    # power loss / restart of meter i
    f.meter_time()             # the simulated UTC clock (the gateway's time source in tests)
    f.stop()

Each meter is `micropython -X heapsize=<heap> -m main` where `micropython` is the unix port
with the firmware frozen in, as an ESP32 image carries it (host_tools/frozen.py: device/ +
board + prepay + libs), run from its flash image directory (main.py, www/). With
firmware="loose32" (or METER_FIRMWARE=loose32) it is instead stock MicroPython built as the
32-bit unix port, the ESP32's object sizes, running the loose .mpy bundle exactly as
host_tools.flash copies it to a board (README "Memory"); "frozen32" is the frozen firmware
on the 32-bit port. Each meter runs with METER_ROOT
(its flash directory), METER_SPEED (meter seconds per real second) and METER_EPOCH (its RTC
at first boot; omit with epoch=None for an unsynced clock that the gateway sets over MQTT).
A pzem meter also gets `python -m host_tools.pzem_sim --root DIR`, an analog meter
host_tools.adc_feed (its simulated front-end, out of the meter's heap); both outlive
kill/restart of the meter, as hardware outlives a firmware crash.
Each meter reaches the broker only through its WiFi link: the ESP32 stand-ins
(host_tools/esp32_standins, on its import path) give it a radio that must join the access
point of its simulated world (host_tools/wifiworld.World, provisioned wifi.ssid/password),
and a loopback proxy (wifiworld.Link) carries its MQTT connection only while it is joined
(over TLS too: the proxy passes the bytes, the meter verifies the broker's certificate).
`board` picks the firmware: unix_sim, or esp32_pzem / esp32_analog, whose real board files
run on the stand-ins for machine (its UART on the PZEM simulator's pty), network, ntptime
and the RTC; an ESP32 meter runs from its flash directory (main.py and www/ copied there).
Meter stdout/stderr go to <root>/console.log. The heap is `heap`, else HEAP (HEAP32 for
the 32-bit firmware). A meter runs with umask 077: what it writes to its flash (config.json rewritten by a config command, with its
WiFi and MQTT passwords; credit; journal) is owner-only, as provisioning wrote it.
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
from host_tools.wifiworld import Link, World
from host_tools.provision import Provisioner, merge

REPO = Path(__file__).resolve().parent.parent
# The heap every 64-bit meter runs in (README "Memory"), for the complete firmware -
# metering, credit, journal, WiFi, clock, watchdog, MQTT sync and the microdot page. Objects
# here are about twice their ESP32 size, so this is not the ESP32's budget: HEAP32 on the
# 32-bit port is (tests/e2e/test_web_load.py runs the same load under both). At 128k the
# 4-client web load now peaks at 108-114 KB and hit MemoryError now and then, so 160k.
# METER_HEAP overrides.
HEAP = os.environ.get("METER_HEAP", "160k")
# The ESP32's budget on the 32-bit port: about 108 KB of Python heap without PSRAM, less a
# margin for what WiFi takes from system RAM. METER_HEAP overrides this too.
HEAP32 = os.environ.get("METER_HEAP", "100k")
# What a meter boots: "frozen" (the default), "frozen32" or "loose32" (firmware()).
FIRMWARE = os.environ.get("METER_FIRMWARE", "frozen")
MICROPYTHON = str(Path(sys.executable).parent / "micropython")
if not os.path.exists(MICROPYTHON):
    MICROPYTHON = shutil.which("micropython") or "micropython"


def bundle(board="unix_sim", cache=REPO / "build", bits=64):
    """Path of the compiled firmware bundle for `board` on a `bits`-bit unix port, built once
    per source content (a content hash names the directory, so concurrent builders never
    clash)."""
    out = Path(cache) / ("fw%s-%s-%s" % ("" if bits == 64 else bits, board,
                                         fwbuild.digest(board).hexdigest()[:12]))
    if not out.exists():
        Path(cache).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fw-", dir=cache))
        fwbuild.build(board, tmp / "b", fwbuild.arch("unix_sim", bits))
        try:
            os.rename(tmp / "b", out)
        except OSError:
            pass            # another process won the race with identical content
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def firmware(kind=FIRMWARE, board="unix_sim"):
    """(interpreter, flash directory) of firmware `kind`: "frozen" and "frozen32", the
    firmware frozen into the 64- or 32-bit unix port (host_tools/frozen.py); "loose32", the
    loose .mpy bundle (host_tools/build.py, x86) on stock MicroPython built 32-bit."""
    if kind in ("frozen", "frozen32"):
        fw = frozen.firmware(board, 32 if kind == "frozen32" else 64)
        return fw / "micropython", fw
    if kind == "loose32":
        return frozen.interpreter(32), bundle(board, bits=32)
    raise ValueError("firmware %r: one of frozen, frozen32, loose32" % kind)


def default_heap(kind):
    return HEAP32 if kind.endswith("32") else HEAP


STANDINS = REPO / "host_tools" / "esp32_standins"


def standin_path(board):
    """The stand-ins a unix-port meter of `board` imports: network, machine and ntptime for
    every board; for an ESP32 board also its RTC as `time` shows it, and the pty UART its
    machine.UART stand-in uses (boards/unix_sim/pty_uart.py)."""
    if board.startswith("esp32_"):
        return [STANDINS, STANDINS / "rtc", _pty_uart_dir()]
    return [STANDINS]


def _pty_uart_dir():
    """A directory holding only boards/unix_sim/pty_uart.py (copied into build/): on the
    path, the whole unix_sim board directory would put its board.py before the ESP32 board's
    in a loose bundle on the flash (main.py puts the flash root last)."""
    src = REPO / "boards" / "unix_sim" / "pty_uart.py"
    d = REPO / "build" / "standin-uart"
    dst = d / "pty_uart.py"
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / (".pty_uart.%d" % os.getpid())
        shutil.copy(src, tmp)
        os.replace(tmp, dst)
    return d


def firmware_cmd(heap, fw=None, exe=None):
    """How a meter boots: main run as a module from its flash root (the cwd), so sys.path
    is ['', '.frozen', 'lib'] as on an ESP32. `exe` is the interpreter (firmware()); else
    `fw` is a frozen firmware directory (host_tools/frozen.py) whose interpreter carries the
    modules; without either the loose .mpy bundle in the cwd is loaded by the pip-installed
    interpreter."""
    exe = str(exe) if exe else str(Path(fw) / "micropython") if fw else MICROPYTHON
    return [exe, "-X", "heapsize=" + heap, "-m", "main"]


def upy_env(fw, root, speed=1, epoch=None, extra_path=(), board="unix_sim", **env):
    """Environment for a firmware process run with cwd = the bundle `fw`."""
    e = dict(os.environ)
    e["MICROPYPATH"] = ":".join([".frozen", "lib"] + [str(p) for p in extra_path]
                                + [str(p) for p in standin_path(board)])
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

    def __init__(self, fleet, meter_id, root, source, seed=1, web_port=0, world=None):
        self.f = fleet
        self.world = world        # its WiFi surroundings (wifiworld.World)
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
        f.radio()                 # its only way to the broker
        extra = dict({"METER_SEED": self.seed}, **f.env)
        if self.sim is None or self.sim.poll() is not None:
            if self.source == "pzem":
                self.sim = pzem_sim.spawn(self.root, "--speed", int(f.speed), "--seed", self.seed)
            elif self.source == "analog":
                self.sim = adc_feed.spawn(self.root, env=extra)
        env = upy_env(f.fw, self.root, f.speed, f.epoch, board=f.board, **extra)
        cwd = f.fw
        if f.board != "unix_sim":     # an ESP32 boots from its flash: main.py, www/ on it
            shutil.copy(Path(f.fw) / "main.py", self.root / "main.py")
            shutil.copytree(Path(f.fw) / "www", self.root / "www", dirs_exist_ok=True)
            cwd = self.root
        log = open(self.root / "console.log", "ab")
        self.proc = subprocess.Popen(firmware_cmd(f.heap, f.fw, f.exe),
                                     cwd=str(cwd), env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     umask=0o077)   # its flash: config.json holds its secrets
        log.close()
        self.starts += 1
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """Power loss: SIGKILL, no chance to flush anything (an ESP32's RTC, which has no
        battery, starts again from 2000)."""
        if self.running:
            self.proc.kill()
            self.proc.wait()
        for name in ("rtc", "reset_reason"):
            try:
                (self.root / name).unlink()
            except FileNotFoundError:
                pass

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
        self.world.ap(False)

    def net_up(self):
        self.world.ap(True)

    def console(self):
        try:
            return (self.root / "console.log").read_text(errors="replace")
        except OSError:
            return ""


class Fleet:
    def __init__(self, root_dir, broker_host, broker_port, n, speed=1, source="analog",
                 store=None, db=None, epoch=None, prefix="pm", config=None, heap=None,
                 id_format="m-%03d", env=None, web_port=0, board="unix_sim", ca=None,
                 firmware=None):
        self.root = Path(root_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host, self.port = broker_host, broker_port
        self.speed = speed
        self.epoch = epoch
        self.firmware = firmware or FIRMWARE
        self.heap = heap or default_heap(self.firmware)
        self.env = env or {}
        self.board = board
        self.link = Link()        # the meters' WiFi: their only way to the broker
        self.t0 = time.time()     # real time at which meter time == epoch (see meter_time)
        self.prov = Provisioner(self.root / "provision", prefix)
        self.meters = []
        kinds = [source] * n if isinstance(source, str) else list(source)
        for i in range(n):
            mid = id_format % (i + 1)
            # NTP off unless a test gives a server: the gateway's time command sets clocks
            cfg = merge({"web": {"port": web_port + i if web_port else 0},
                         "measure": {"window_ms": self.window_ms(speed)},
                         "ntp": {"host": ""}},
                        json.loads(json.dumps(config or {})))
            root = self.root / mid
            world = World(root, "fleet-ap", "fleet-pass-%d" % (i + 1))
            if "wifi" not in cfg:
                cfg["wifi"] = {"ssid": "fleet-ap", "password": "fleet-pass-%d" % (i + 1)}
            port = self.link.route(world, broker_host, broker_port)
            self.prov.add_meter(mid, root, "127.0.0.1", port, kinds[i], store=store,
                                db=db, config=cfg, ca=ca)
            self.meters.append(Meter(self, mid, root, kinds[i], seed=i + 1,
                                     web_port=cfg["web"]["port"], world=world))
        self.passwd, self.acl = self.prov.write_broker_files()
        self.fw = self.exe = None   # flash directory and interpreter: firmware(), or set fw

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
        if self.fw is None:
            self.exe, self.fw = firmware(self.firmware, self.board)
        self.t0 = time.time()
        for m in self.meters:
            m.start()
        return self

    def radio(self):
        """Start the meters' WiFi link (idempotent): a meter started on its own needs it."""
        if not self.link.is_alive():
            self.link.start()

    def stop(self):
        for m in self.meters:
            m.stop()
        if self.link.is_alive():
            self.link.stop()

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
