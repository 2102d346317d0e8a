"""MicroPython's source tree, for building the firmware the way a device ships it.

    python -m host_tools.upy_source            # prints the path, fetching it once
    upy_source.mbedtls(path)                   # its lib/mbedtls, from Debian's mbedtls source

The source comes from Debian's `micropython` source package, fetched by name with
apt-get from the Debian archive this machine's apt already uses (the newest version in
SUITES), into a private apt state under build/, so the machine's own apt configuration is
untouched.
MICROPYTHON_SRC=<dir> uses a checkout you already have instead.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# unstable carries 1.26+, whose json refuses a truncated object (1.25's parses b'{"a": 1'
# as {"a": 1}; tests/e2e/test_web_badinput.py tries it); stable's 1.25 is the fallback.
SUITES = ("sid", "trixie")
CACHE = REPO / "build" / "micropython-src"


def archive_uris(etc="/etc/apt"):
    """URIs of the Debian archive in this machine's apt sources (not the security one)."""
    uris = []
    for f in sorted(glob.glob(etc + "/sources.list.d/*.sources")):
        for stanza in Path(f).read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if "deb" in fields.get("Types", "").split() and "main" in fields.get("Components", ""):
                uris += [u for u in fields.get("URIs", "").split() if "/debian" in u]
    for f in [etc + "/sources.list"] + sorted(glob.glob(etc + "/sources.list.d/*.list")):
        try:
            lines = Path(f).read_text().splitlines()
        except OSError:
            continue
        for ln in lines:
            m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+\s+.*\bmain\b", ln)
            if m and "/debian" in m.group(1):
                uris.append(m.group(1))
    return [u for u in dict.fromkeys(uris) if "security" not in u]


def _apt(state, *args):
    opts = ["-o", "Dir::Etc::sourcelist=%s/sources.list" % state, "-o", "Dir::Etc::sourceparts=-",
            "-o", "Dir::State::Lists=%s/lists" % state, "-o", "Dir::Cache=%s/cache" % state,
            "-o", "Debug::NoLocking=1", "-qq"]
    r = subprocess.run(["apt-get"] + opts + list(args), cwd=state, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("apt-get %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))


def _source_archive(name, dest):
    """The orig tarball of Debian source package `name` (newest in SUITES), downloaded by
    apt-get into a private apt state under dest."""
    state = dest / "apt"
    if not (state / "sources.list").exists():
        uris = archive_uris()
        if not uris:
            raise SystemExit("no Debian archive in /etc/apt sources: set MICROPYTHON_SRC to a "
                             "MicroPython source tree (with lib/mbedtls)")
        for d in ("lists/partial", "cache/archives/partial"):
            (state / d).mkdir(parents=True, exist_ok=True)
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        signed = " [signed-by=%s]" % keyring if os.path.exists(keyring) else ""
        (state / "sources.list").write_text(
            "".join("deb-src%s %s %s main\n" % (signed, u, s) for u in uris for s in SUITES))
        _apt(state, "update")
    orig = sorted(state.glob("%s_*.orig.tar.*" % name))
    if not orig:
        _apt(state, "source", "--download-only", name)
        orig = sorted(state.glob("%s_*.orig.tar.*" % name))
    if not orig:
        raise SystemExit("apt-get source %s gave no source archive" % name)
    return orig[-1]


def fetch(dest=CACHE):
    """Download and unpack the source package once; return the source tree."""
    dest = Path(dest)
    have = sorted(dest.glob("micropython-*/py/mpconfig.h"))
    if have:
        return have[-1].parent.parent
    with tarfile.open(_source_archive("micropython", dest)) as t:
        t.extractall(dest, filter="data")
    return fetch(dest)


def mbedtls(src, dest=CACHE):
    """Fill the tree's lib/mbedtls, empty in Debian's source package (Debian's MicroPython
    links the system library, whose config - HAVEGE on - makes every TLS context a 38 KB
    heap object), from Debian's `mbedtls` source package (3.6, the series MicroPython 1.26
    is written for), so the unix port builds TLS as upstream and the ESP32 port do: the
    library compiled in, with MicroPython's own mbedTLS config. Returns lib/mbedtls."""
    lib = Path(src) / "lib" / "mbedtls"
    if (lib / "library" / "ssl_tls.c").exists():
        return lib
    tmp = Path(dest) / ".mbedtls"
    with tarfile.open(_source_archive("mbedtls", Path(dest))) as t:
        t.extractall(tmp, filter="data")
    top = next(p for p in tmp.iterdir() if (p / "library" / "ssl_tls.c").exists())
    lib.mkdir(parents=True, exist_ok=True)
    for p in top.iterdir():
        os.rename(p, lib / p.name)
    shutil.rmtree(tmp)
    return lib


def path():
    return Path(os.environ["MICROPYTHON_SRC"]) if os.environ.get("MICROPYTHON_SRC") else fetch()


if __name__ == "__main__":
    print(path())
    sys.exit(0)
