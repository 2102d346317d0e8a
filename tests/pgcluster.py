"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries, `initdb` in a
temporary directory, a free loopback port, the unix socket in that directory.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user
the Debian package creates (run through `runuser`), and its directory is chowned to it.
fsync is off: a test cluster lives for one session, and killing the server processes
(`kill()`, the fault tests) still loses nothing the OS holds; synchronous_commit stays on.

    c = Cluster().start(); url = c.create("t1", template="tmpl"); c.kill(); c.start(); c.stop()
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def pg_bin(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make deps installs Debian's postgresql)")
    return found[-1]


def _children(pid):
    """Pids of the processes whose parent is pid (from /proc: procps may be absent)."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.split("/")[2]))
    return out


def _alive(pid):
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, durable=False):
        """durable=True: fsync on, as a production server (the benchmarks)."""
        self.durable = durable
        self.dir = tempfile.mkdtemp(prefix="pg")      # short: the socket path has a limit
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = None
        if os.getuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(pg_bin("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")

    def _run(self, *argv, check=True):
        if self.user:
            argv = ("runuser", "-u", self.user, "--") + argv
        return subprocess.run(argv, check=check, capture_output=True, text=True, cwd=self.dir)

    def url(self, dbname="postgres"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, dbname)

    def start(self):
        # synchronous_commit stays on: a commit the gateway acknowledges must survive a crash
        # of the server (the fault tests kill it); fsync=off loses only an OS crash's data
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300"
                % (self.port, self.dir))
        if not self.durable:
            opts += " -c fsync=off -c full_page_writes=off"
        r = self._run(pg_bin("pg_ctl"), "-D", self.data, "-o", opts, "-l",
                      os.path.join(self.dir, "log"), "-w", "-t", "60", "start", check=False)
        if r.returncode:
            raise RuntimeError("pg_ctl start failed: %s %s\n%s" % (r.stdout, r.stderr, self.log()))
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def kill(self):
        """SIGKILL the postmaster (a crash): its backends exit, clients see broken
        connections; start() then runs crash recovery."""
        pid = self.pid()
        procs = [pid] + _children(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30     # until the backends noticed and exited too
        while time.monotonic() < deadline and any(_alive(p) for p in procs):
            time.sleep(0.1)
        # its lock files stay behind, naming a pid that may linger as an unreaped zombie
        # (which PostgreSQL would take for a running server)
        sock = os.path.join(self.dir, ".s.PGSQL.%d" % self.port)
        for f in (os.path.join(self.data, "postmaster.pid"), sock + ".lock", sock):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass

    def stop(self):
        self._run(pg_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "stop", check=False)

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, statement, dbname="postgres"):
        import psycopg
        with psycopg.connect(self.url(dbname), autocommit=True) as c:
            c.execute(statement)

    def create(self, name, template=None):
        """A new database (a copy of `template`, when given: fast) -> its URL."""
        self.sql('CREATE DATABASE "%s"%s' % (name, ' TEMPLATE "%s"' % template if template
                                             else ""))
        return self.url(name)
