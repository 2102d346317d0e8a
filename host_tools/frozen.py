"""Build the unix_sim meter firmware as a device ships it: MicroPython with the firmware
frozen in, plus the files that go on its flash.

    python -m host_tools.frozen            # prints the firmware directory

A production ESP32 image freezes the application into the firmware: its bytecode, interned
strings and constants are read from flash in place, and the heap holds only what the code
creates. Loose .mpy files (host_tools/build.py, what `flash` copies for development) are
instead loaded into the heap, which on this 64-bit port roughly doubles their size. The
meters that the fleet, the demo and the end-to-end tests run are built this way, from
MicroPython's unix port (source: host_tools/upy_source.py) with boards/unix_sim/manifest.py:

    build/fwz-unix_sim-<hash>/micropython   the interpreter with the firmware frozen in
    build/fwz-unix_sim-<hash>/main.py       what boots, on flash as on the device
    build/fwz-unix_sim-<hash>/www/          the page template and gzipped assets

The hash covers the firmware sources, the manifest, this file (the make flags) and the
MicroPython source tree's name, so a change rebuilds; the interpreter's own objects are built once and only relinked after.
"""
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from host_tools import build as fwbuild
from host_tools import upy_source, webassets

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build"
# The unix port without what a meter never uses (FFI, btree, TLS: their libraries are
# separate archives upstream). The micropython-lib checkout is not needed either - nothing
# frozen here comes from it - but the frozen rule checks for its README, so point it at an
# empty stand-in.
_MAKE_FLAGS = ["MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0", "MICROPY_SSL_MBEDTLS=0",
               "MICROPY_SSL_AXTLS=0", "MICROPY_PY_SSL=0", "BUILD=build-meter",
               "PROG=micropython-meter"]


def _hash(board, src):
    h = fwbuild.digest(board)
    h.update(src.name.encode())
    h.update((REPO / "boards" / board / "manifest.py").read_bytes())
    h.update(Path(__file__).read_bytes())       # the make flags
    return h.hexdigest()[:12]


def _stage(board, into):
    """The bundle's modules as source, laid out as on the meter's flash (lib/ packages at
    the top level: frozen modules have no sys.path of their own)."""
    for src, rel in fwbuild.sources(board):
        if rel in fwbuild.KEEP_SOURCE:
            continue
        if rel.startswith("lib/"):
            rel = rel[4:]
        dst = into / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)


def _make(src, board, stage, log):
    # mpy-cross first, on its own: the unix Makefile would build it as a dependency but
    # pass this build's variables (BUILD, PROG, the manifest) down to it.
    _run(["make", "-C", str(src / "mpy-cross"), "-j%d" % (os.cpu_count() or 2)], log)
    empty = CACHE / "micropython-lib-none"
    empty.mkdir(parents=True, exist_ok=True)
    (empty / "README.md").touch()
    cmd = ["make", "-C", str(src / "ports" / "unix"), "-j%d" % (os.cpu_count() or 2),
           "FROZEN_MANIFEST=%s" % (REPO / "boards" / board / "manifest.py"),
           "MICROPY_MANIFEST_FW_DIR=%s" % stage, "MPY_LIB_DIR=%s" % empty,
           "MPY_CROSS_FLAGS=-march=%s" % fwbuild.ARCH[board]] + _MAKE_FLAGS
    _run(cmd, log)
    return src / "ports" / "unix" / "build-meter" / "micropython-meter"


def _run(cmd, log):
    with open(log, "a") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        raise SystemExit("building the frozen firmware failed (%s); see %s:\n%s"
                         % (" ".join(cmd[:3]), log, Path(log).read_text()[-3000:]))


def firmware(board="unix_sim"):
    """Directory of the frozen firmware for `board`, built once per content."""
    src = upy_source.path()
    out = CACHE / ("fwz-%s-%s" % (board, _hash(board, src)))
    if (out / "micropython").exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".frozen.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # one build tree: builders take turns
        if (out / "micropython").exists():
            return out
        tmp = CACHE / ("." + out.name)
        shutil.rmtree(tmp, ignore_errors=True)
        _stage(board, tmp / "stage")
        binary = _make(src, board, tmp / "stage", tmp / "make.log")
        shutil.copy(binary, tmp / "micropython")
        shutil.copy(REPO / "device" / "main.py", tmp / "main.py")
        webassets.build(tmp / "www")
        shutil.rmtree(tmp / "stage")
        os.rename(tmp, out)
    return out


if __name__ == "__main__":
    print(firmware(sys.argv[1] if len(sys.argv) > 1 else "unix_sim"))
