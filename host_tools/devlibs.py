"""Fetch the device's third-party libraries by name from the package index.

microdot ships as a wheel, so ``pip download`` gets it. umqtt.simple is published
as a bare source archive without build metadata, which pip refuses to handle, so we
read the package's page on pip's own configured index, take the archive link, check
its pinned sha256 and extract the one file we need. No host is named here: the
index is whatever pip is configured with. Nothing is fetched at run time.

    python -m host_tools.devlibs build/lib
"""
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

MICRODOT = ("microdot", "2.7.0")
# Only the modules the firmware imports; the rest of microdot is CPython-side.
MICRODOT_FILES = ("__init__.py", "microdot.py", "helpers.py", "sse.py")
UMQTT = ("micropython-umqtt.simple", "1.3.4",
         "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f")


def index_url():
    """The simple-index URL pip is configured with (pip config, else pip's default)."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                         capture_output=True, text=True)
    url = out.stdout.strip() if out.returncode == 0 else ""
    if not url:
        from pip._internal.models.index import PyPI
        url = PyPI.simple_url
    return url.rstrip("/") + "/"


def fetch_microdot(dest):
    name, ver = MICRODOT
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary", ":all:", "-d", tmp, f"{name}=={ver}"], check=True)
        wheel = next(Path(tmp).glob("microdot-*.whl"))
        out = dest / "microdot"
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            for f in MICRODOT_FILES:
                (out / f).write_bytes(z.read("microdot/" + f))


def fetch_umqtt(dest):
    name, ver, sha = UMQTT
    page_url = index_url() + name + "/"
    with urllib.request.urlopen(page_url, timeout=60) as r:
        page = r.read().decode()
    fname = f"{name}-{ver}.tar.gz"
    m = re.search(r'href="([^"]*' + re.escape(fname) + r')[^"]*"', page)
    if not m:
        raise SystemExit(f"devlibs: {fname} not listed at {page_url}")
    link = urllib.parse.urljoin(page_url, m.group(1))
    with urllib.request.urlopen(link, timeout=120) as r:
        blob = r.read()
    got = hashlib.sha256(blob).hexdigest()
    if got != sha:
        raise SystemExit(f"devlibs: {fname} sha256 {got} != pinned {sha}")
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        src = t.extractfile(f"{name}-{ver}/umqtt/simple.py").read()
    out = dest / "umqtt"
    out.mkdir(parents=True, exist_ok=True)
    (out / "__init__.py").write_bytes(b"")
    (out / "simple.py").write_bytes(src)


def main(argv=None):
    dest = Path((argv or sys.argv[1:] or ["build/lib"])[0])
    stamp = dest / ".fetched"
    want = f"{MICRODOT}{UMQTT}"
    if stamp.exists() and stamp.read_text() == want:
        return
    fetch_microdot(dest)
    fetch_umqtt(dest)
    stamp.write_text(want)
    print(f"devlibs: microdot {MICRODOT[1]}, umqtt.simple {UMQTT[1]} -> {dest}")


if __name__ == "__main__":
    main()
