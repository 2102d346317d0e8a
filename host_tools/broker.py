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

    b = Broker(dir, passwd=p, acl=a, tls=CA(dir))   # + a TLS listener (host_tools/tlsca.py)
    b.tls_port                 # meters over TLS (None without tls; tls_port= to choose it)
    Broker(..., tls=ca, plain=False)   # meters over TLS only: b.port is None
    b.gw_port                  # the gateway's listener (TLS when tls is given)

Config (docs/broker.md): no anonymous access when users/passwd is given (anonymous only for
a bare Broker()), a password file made with mosquitto_passwd, an ACL file, and a
persistence directory with a 1 s autosave so QoS 1 sessions and retained messages survive
restarts. Queues are large (max_queued_messages 100000) so a slow subscriber is
back-pressured, not dropped. No message or packet larger than the protocol's largest
(prepay/protocol.py PAYLOAD_MAX, PACKET_MAX) is accepted.

With credentials the meters and the gateway get separate listeners (security_conf):
- the meters' (`port`, plain, a lab setting that plain=False turns off; `tls_port` with
  tls): the client id is the username (use_username_as_clientid), so a client with one
  meter's password cannot take over another meter's session by using its client id;
- the gateway's (`gw_port`): only the gateway users (gateway_users) can log in there, with
  client ids of their own choosing (several workers, the Home Assistant publisher).
"""
import atexit
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from host_tools import secretfile
from prepay import protocol as P

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


_GIVEN = set()   # ports free_port handed out in this process


def free_port(host="127.0.0.1"):
    """A port free now, and never one this process was given before: the kernel may hand a
    just-closed port out again, and two listeners of one broker then collide (seen in CI:
    mosquitto "Address already in use" for its meters' and gateway's listeners)."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
    raise RuntimeError("no fresh free port on %s" % host)


def write_passwd(path, users):
    """Write a mosquitto password file for {user: password} (hashed by mosquitto_passwd)."""
    path = secretfile.write(path, "".join(f"{u}:{p}\n" for u, p in users.items()))
    subprocess.run([MOSQUITTO_PASSWD, "-U", str(path)], check=True, capture_output=True)
    return path


def limits_conf():
    """mosquitto.conf lines capping what any client may send (prepay/protocol.py)."""
    return ["message_size_limit %d" % P.PAYLOAD_MAX, "max_packet_size %d" % P.PACKET_MAX]


def gateway_passwd(passwd, out, users=("gateway",)):
    """A password file with only `users`' lines of `passwd` (hashes copied, not re-made)."""
    keep = [ln for ln in Path(passwd).read_text().splitlines()
            if ln.partition(":")[0] in users]
    return secretfile.write(out, "".join(ln + "\n" for ln in keep))


def security_conf(meters, gateway, passwd, gw_passwd, acl, tls=None, limits=True):
    """mosquitto.conf lines for the listeners: `meters` is [(port, host, use_tls)], `gateway`
    (port, host, use_tls) or None; tls a tlsca.CA (or anything with .ca/.cert/.key paths).
    Without passwd every listener is anonymous (a lab broker). limits=False leaves out the
    size limits (tests of the gateway's own defences against what gets past a broker)."""
    lines = ["per_listener_settings true"] + (limits_conf() if limits else [])

    def listener(port, host, use_tls, pw, bind_id):
        out = ["", "listener %d %s" % (port, host)]
        if pw:
            out += ["allow_anonymous false", "password_file %s" % pw]
        else:
            out += ["allow_anonymous true"]
        if acl:
            out.append("acl_file %s" % acl)
        if bind_id and pw:
            out.append("use_username_as_clientid true")
        if use_tls:
            out += ["cafile %s" % tls.ca, "certfile %s" % tls.cert, "keyfile %s" % tls.key,
                    "tls_version tlsv1.2"]
        return out

    for port, host, use_tls in meters:
        lines += listener(port, host, use_tls, passwd, True)
    if gateway:
        lines += listener(gateway[0], gateway[1], gateway[2], gw_passwd, False)
    return lines


_STARTED = []   # every broker process this interpreter started: none outlives it (atexit)


@atexit.register
def _kill_leftovers():
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Broker:
    def __init__(self, workdir, users=None, acl=None, passwd=None, port=None,
                 host="127.0.0.1", extra_conf="", tls=None, plain=True,
                 gateway_users=("gateway",), limits=True, tls_port=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        self.host = host
        self.port = (port or free_port(host)) if plain else None
        self.tls = tls
        self.tls_port = (tls_port or free_port(host)) if tls else None
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
        meters = []
        if self.port:
            meters.append((self.port, host, False))
        if tls:
            meters.append((self.tls_port, host, True))
        gateway, gw_passwd = None, None
        if self.passwd:   # the gateway's own listener (an anonymous broker has just one)
            self.gw_port = free_port(host)
            gateway = (self.gw_port, host, bool(tls))
            gw_passwd = gateway_passwd(self.passwd, self.dir / "passwd.gateway", gateway_users)
        else:
            self.gw_port = self.tls_port if tls else self.port
        self.conf = self.dir / "mosquitto.conf"
        self.logfile = self.dir / "mosquitto.log"
        # started as root, mosquitto would drop to user "mosquitto" and lose access to dir
        lines = [f"user {getpass.getuser()}",
                 "persistence true", f"persistence_location {self.dir / 'data'}/",
                 "autosave_interval 1", "max_queued_messages 100000",
                 "max_inflight_messages 20", "set_tcp_nodelay true",
                 f"log_dest file {self.logfile}", "log_type error", "log_type warning",
                 "log_type notice", "log_type information", "connection_messages true"]
        lines += security_conf(meters, gateway, self.passwd, gw_passwd, self.acl, tls, limits)
        self.conf.write_text("\n".join(lines) + "\n" + extra_conf)

    @property
    def ports(self):
        return [p for p in (self.port, self.tls_port, self.gw_port) if p]

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        if self.running:
            return self
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        _STARTED[:] = [p for p in _STARTED if p.poll() is None] + [self.proc]
        self.starts += 1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                for p in self.ports:
                    socket.create_connection((self.host, p), timeout=0.2).close()
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
