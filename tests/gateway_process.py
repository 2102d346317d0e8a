"""A real `python -m gateway` process for tests, against a real mosquitto: its secrets come
from a password file and the environment, never its command line.

    from gateway_process import GatewayProcess
    with GatewayProcess(tmp_path, broker, password, keys=["k"]) as gw:
        gw.url, gw.proc.pid, gw.log()
"""
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from broker import free_port
from waits import wait_until

REPO = Path(__file__).resolve().parents[1]


class GatewayProcess:
    def __init__(self, workdir, broker, password, keys=(), user="gateway", extra=(), db=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = str(db) if db else str(self.dir / "gw.db")   # a file or a postgresql:// URL
        pw = self.dir / "mqtt-password"
        pw.write_text(password + "\n")
        pw.chmod(0o600)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.argv = [sys.executable, "-m", "gateway", "--db", str(self.db), "--broker",
                     "%s:%d" % (broker.host, broker.gw_port), "--user", user, "--password-file",
                     str(pw), "--api-port", str(self.port), "--client-id", "gw-" + self.dir.name,
                     *extra]
        self.env = dict(os.environ, GATEWAY_API_KEYS=",".join(keys))
        self.logfile = self.dir / "gateway.log"
        self.proc = None

    def start(self, timeout=30):
        self.proc = subprocess.Popen(self.argv, cwd=str(REPO), env=self.env,
                                     stdout=open(self.logfile, "wb"), stderr=subprocess.STDOUT)
        if wait_until(self._ready, timeout, errors=(OSError,)):
            return self
        self.stop()
        raise RuntimeError("gateway did not connect:\n" + self.log())

    def _ready(self):
        """Serving, with the broker connected; an exit is an error at once."""
        if self.proc.poll() is not None:
            raise RuntimeError("gateway exited %s:\n%s" % (self.proc.returncode, self.log()))
        with urllib.request.urlopen(self.url + "/api/health", timeout=2) as r:
            return json.loads(r.read())["broker"]["connected"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
