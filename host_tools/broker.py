"""A real mosquitto broker for tests, benchmarks and the demo, on a free loopback port.

    from host_tools.broker import Broker     # tests: `from broker import Broker` (tests/broker.py)
    b = Broker(tmp_path / "mq", users={"gateway": "pw"}, acl=acl_text)
                               # acl: ACL text (str) or a file (Path); passwd=: an existing file
    b.start()                  # returns once the port accepts connections
    b.host, b.port             # "127.0.0.1", the port (kept across restarts)
    b.kill()                   # SIGKILL: in-flight state since the last autosave is lost
    b.stop()                   # SIGTERM: clean shutdown, persistence written
    b.restart(kill=True)       # kill (or stop) then start on the same port
    b.freeze(1.0)              # SIGSTOP for 1 s then SIGCONT: a hung, silent broker
    b.reload()                 # SIGHUP: re-read password and ACL files (after provisioning)
    b.log()                    # the broker's log text, for failure messages

Config: no anonymous access when users/passwd is given (anonymous only for a bare Broker()),
a password file made with mosquitto_passwd, an ACL file, and a persistence directory
with a 1 s autosave so QoS 1 sessions and retained messages survive restarts. Queues are
large (max_queued_messages 100000) so a slow subscriber is back-pressured, not dropped.
"""
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def write_passwd(path, users):
    """Write a mosquitto password file for {user: password} (hashed by mosquitto_passwd)."""
    path = Path(path)
    path.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    subprocess.run([MOSQUITTO_PASSWD, "-U", str(path)], check=True, capture_output=True)
    return path


class Broker:
    def __init__(self, workdir, users=None, acl=None, passwd=None, port=None,
                 host="127.0.0.1", extra_conf=""):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.proc = None
        self.starts = 0
        self.passwd = Path(passwd) if passwd else None
        if users:
            self.passwd = write_passwd(self.dir / "passwd", users)
        self.acl = None
        if isinstance(acl, str):  # ACL text; a Path is an existing ACL file
            self.acl = self.dir / "acl"
            self.acl.write_text(acl)
        elif acl is not None:
            self.acl = Path(acl)
        self.conf = self.dir / "mosquitto.conf"
        self.logfile = self.dir / "mosquitto.log"
        # started as root, mosquitto would drop to user "mosquitto" and lose access to dir
        lines = [f"user {getpass.getuser()}", f"listener {self.port} {host}",
                 f"allow_anonymous {'false' if self.passwd else 'true'}",
                 "persistence true", f"persistence_location {self.dir / 'data'}/",
                 "autosave_interval 1", "max_queued_messages 100000",
                 "max_inflight_messages 20", "set_tcp_nodelay true",
                 f"log_dest file {self.logfile}", "log_type error", "log_type warning",
                 "log_type notice", "log_type information", "connection_messages true"]
        if self.passwd:
            lines.append(f"password_file {self.passwd}")
        if self.acl:
            lines.append(f"acl_file {self.acl}")
        self.conf.write_text("\n".join(lines) + "\n" + extra_conf)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        if self.running:
            return self
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.starts += 1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError("mosquitto did not open its port:\n" + self.log()[-3000:])

    def _signal(self, sig, timeout=10):
        if not self.running:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self._signal(signal.SIGTERM)

    def kill(self):
        self._signal(signal.SIGKILL)

    def restart(self, kill=True, down_s=0.0):
        (self.kill if kill else self.stop)()
        if down_s:
            time.sleep(down_s)
        return self.start()

    def freeze(self, seconds):
        """An unresponsive broker (SIGSTOP, then SIGCONT): connections stay open but silent."""
        if self.running:
            self.proc.send_signal(signal.SIGSTOP)
            time.sleep(seconds)
            self.proc.send_signal(signal.SIGCONT)

    def reload(self):
        """Re-read password and ACL files (mosquitto does this on SIGHUP)."""
        if self.running:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":  # python -m host_tools.broker: an anonymous broker until Ctrl-C
    b = Broker(os.environ.get("TMPDIR", "/tmp") + "/broker-manual").start()
    print(f"mosquitto on {b.host}:{b.port}")
    try:
        b.proc.wait()
    except KeyboardInterrupt:
        b.stop()
