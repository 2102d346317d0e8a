"""A real meter for web tests: the unix_sim firmware as a device ships it (host_tools.frozen:
the unix-port MicroPython with the firmware frozen in, main.py and the generated web assets
on flash) under the fleet heap (fleet.HEAP), with its own flash directory and config.json. An analog
meter gets its simulated front-end from host_tools.adc_feed, outside its heap, as on a
board.
"""
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from host_tools import adc_feed
from host_tools.fleet import HEAP, default_heap, firmware, firmware_cmd, upy_env  # README "Memory"
from broker import free_port  # noqa: F401  (tests call webmeter.free_port)
from waits import wait_until

KEY = "bc41ec9530f6dac86b1a29ab82edc5fb"
START = 516959010
EPOCH = 1737331200          # 2025-01-20 00:00 UTC
PIN = "4321"
PIN_SALT = "5a17"


def build_firmware():
    """The frozen unix_sim firmware directory, built once per content."""
    from host_tools import frozen
    return frozen.firmware("unix_sim")


def start(kind, root, doc, heap=None, **env):
    """A Meter running firmware `kind` of host_tools.fleet.firmware ("frozen", "frozen32",
    "loose32") under `heap` (default: that firmware's budget, HEAP or HEAP32)."""
    exe, fw = firmware(kind)
    return Meter(fw, root, doc, heap or default_heap(kind), exe=exe, **env)


def config(port, **sections):
    import hashlib
    doc = {"meter": {"id": "m-web-1"},
           "measure": {"source": "analog"},
           "token": {"key": KEY, "starting_code": START},
           "credit": {"initial": 2000, "emergency": 5000},
           "web": {"port": port, "pin_salt": PIN_SALT,
                   "pin_hash": hashlib.sha256((PIN_SALT + PIN).encode()).hexdigest()}}
    for sec, body in sections.items():
        doc.setdefault(sec, {}).update(body)
    return doc


class Meter:
    def __init__(self, fw, root, doc, heap=HEAP, exe=None, **env):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "config.json").write_text(json.dumps(doc))
        self.port = doc["web"]["port"]
        self.heap = heap
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = self.root.parent / (self.root.name + ".log")
        e = upy_env(fw, self.root, epoch=EPOCH, **env)
        self.feed = (adc_feed.spawn(self.root, env=env)
                     if doc.get("measure", {}).get("source") == "analog" else None)
        self._logf = open(self.log, "w")
        self.proc = subprocess.Popen(firmware_cmd(heap, fw, exe),
                                     cwd=str(fw), env=e, stdout=self._logf,
                                     stderr=subprocess.STDOUT)
        try:
            self.wait_up()
        except BaseException:
            self.stop()     # a meter that never came up must not outlive the test
            raise

    def wait_up(self, timeout=20):
        if not wait_until(self._up, timeout, errors=(OSError,)):
            raise AssertionError("meter web page not up:\n" + self.log.read_text()[-3000:])

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError("meter exited %s under -X heapsize=%s:\n%s" % (
                self.proc.returncode, self.heap, self.log.read_text()[-3000:]))
        return self.get("/api/live")[0] == 200

    def request(self, method, path, body=None, headers=None, timeout=10):
        data = None
        h = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def json(self, method, path, body=None, **kw):
        st, raw = self.request(method, path, body, **kw)
        return st, json.loads(raw)

    def status(self):
        return self.json("GET", "/api/status")[1]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.feed is not None and self.feed.poll() is None:
            self.feed.terminate()
            self.feed.wait()
        self._logf.close()


def module_meter(tmp_path_factory, name, **sections):
    """The body of a module-scoped fixture: a meter with config(**sections), stopped at the
    end, whose log must show no traceback."""
    d = tmp_path_factory.mktemp(name)
    m = Meter(build_firmware(), d / "flash", config(free_port(), **sections))
    yield m
    m.stop()
    assert "Traceback" not in m.log.read_text(), m.log.read_text()[-3000:]


def token(value, count):
    """A top-up code from the OpenPAYGO reference encoder for this meter's key:
    (code, the count to pass for the next one)."""
    from openpaygo import generate_token
    nxt, code = generate_token(secret_key=KEY, count=count, value=value,
                               starting_code=START, token_type=1)
    return code, nxt
