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

bits=32 builds the same from the 32-bit unix port (MICROPY_FORCE_32BIT=1, Debian's
gcc-multilib), whose objects are the ESP32's size: the ESP32's heap proxy.

    python -m host_tools.frozen unix_sim 32     # build/fwz32-unix_sim-<hash>/
    python -m host_tools.frozen --plain 32      # build/upy32-<hash>/micropython

`interpreter(bits)` is stock MicroPython, as `flash` finds it on a board: only asyncio
frozen in (as in the ESP32's stock image), for the loose .mpy bundle (host_tools/build.py,
ARCH32 for the 32-bit port) to run on.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from host_tools import build as fwbuild
from host_tools import upy_source, webassets

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build"
# The unix port without what a meter never uses (FFI, btree: their libraries are separate
# archives upstream). The micropython-lib checkout is not needed either - nothing frozen
# here comes from it - but the frozen rule checks for its README, so point it at an empty
# stand-in.
# TLS (the meter's MQTT link, mqtt.tls) is mbedTLS compiled in with MicroPython's own config,
# as on the ESP32; its source, which Debian's MicroPython source package leaves out, comes
# from Debian's mbedtls source package (upy_source.mbedtls). Debian's libmbedtls-dev would
# link, but its config (HAVEGE on) makes each TLS context a 38 KB heap object.
_MAKE_FLAGS = ["MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0", "MICROPY_SSL_AXTLS=0",
               "MICROPY_PY_SSL=1", "MICROPY_SSL_MBEDTLS=1", "BUILD=build-meter",
               "PROG=micropython-meter"]


# The unix port's freeze manifest (asyncio + the staged bundle). An esp32_* board's firmware
# is frozen into the unix port with it too, compiled for x64: its real board files then run
# on the ESP32 stand-ins (host_tools/esp32_standins, host_tools/fleet.py board=).
MANIFEST = REPO / "boards" / "unix_sim" / "manifest.py"
# The ESP32 stand-ins (network, machine, ntptime) are frozen into the unix port too: on an
# ESP32 those modules are in the firmware, not in the heap. They are staged apart from the
# bundle and are never part of it (host_tools/build.py).
STANDINS = REPO / "host_tools" / "esp32_standins"
FROZEN_STANDINS = ("network.py", "machine.py", "machine_hw.py", "ntptime.py")

# 32-bit: the port's own switch; each variant builds in its own tree (BUILD), so the 64-
# and 32-bit builds never relink each other's objects.
_BITS = {64: [], 32: ["MICROPY_FORCE_32BIT=1"]}
# Stock MicroPython's frozen modules that a meter uses: asyncio.
_STOCK_MANIFEST = 'include("$(MPY_DIR)/extmod/asyncio")\n'


def _flags(bits, name):
    """The make flags of a variant: _MAKE_FLAGS, its word size, its own build tree/program."""
    return ([f for f in _MAKE_FLAGS if not f.startswith(("BUILD=", "PROG="))] + _BITS[bits]
            + ["BUILD=build-" + name, "PROG=micropython-" + name])


def _hash(board, src):
    h = fwbuild.digest(board)
    h.update(src.name.encode())
    h.update(MANIFEST.read_bytes())
    for name in FROZEN_STANDINS:
        h.update((STANDINS / name).read_bytes())
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


def _make(src, manifest, stage, arch, bits, name, log, standins=None):
    """Build the unix port variant `name` (its own build tree) and return its program;
    `standins`: the folder of ESP32 stand-ins the manifest freezes (STANDINS_DIR)."""
    standins = standins or stage
    flags = _flags(bits, name)
    upy_source.mbedtls(src)
    # mpy-cross first, on its own: the unix Makefile would build it as a dependency but
    # pass this build's variables (BUILD, PROG, the manifest) down to it.
    _run(["make", "-C", str(src / "mpy-cross"), "-j%d" % (os.cpu_count() or 2)], log)
    empty = CACHE / "micropython-lib-none"
    empty.mkdir(parents=True, exist_ok=True)
    (empty / "README.md").touch()
    cmd = ["make", "-C", str(src / "ports" / "unix"), "-j%d" % (os.cpu_count() or 2),
           "FROZEN_MANIFEST=%s" % manifest,
           "MICROPY_MANIFEST_FW_DIR=%s" % stage, "MPY_LIB_DIR=%s" % empty,
           "MICROPY_MANIFEST_STANDINS_DIR=%s" % standins,
           "MPY_CROSS_FLAGS=-march=%s" % arch] + flags
    _fresh(src / "ports" / "unix" / ("build-" + name), flags)
    _run(cmd, log)
    return src / "ports" / "unix" / ("build-" + name) / ("micropython-" + name)


def _fresh(build, flags):
    """Empty the build tree if it was made with other flags: make does not track them, so
    objects built otherwise (without TLS, say) would be relinked as they are."""
    stamp = build / ".make-flags"
    want = "\n".join(flags)
    if build.exists() and not (stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(build)
    build.mkdir(parents=True, exist_ok=True)
    stamp.write_text(want)


def _run(cmd, log):
    with open(log, "a") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        raise SystemExit("building the frozen firmware failed (%s); see %s:\n%s"
                         % (" ".join(cmd[:3]), log, Path(log).read_text()[-3000:]))


def _once(out, fill):
    """Build directory `out` with fill(tmp) unless it exists: one builder at a time."""
    if (out / "micropython").exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".frozen.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # one source tree: builders take turns
        if (out / "micropython").exists():
            return out
        tmp = CACHE / ("." + out.name)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        fill(tmp)
        os.rename(tmp, out)
    return out


def firmware(board="unix_sim", bits=64):
    """Directory of the frozen firmware for `board`, built once per content."""
    src = upy_source.path()
    suffix = "" if bits == 64 else str(bits)
    out = CACHE / ("fwz%s-%s-%s" % (suffix, board, _hash(board, src)))

    def fill(tmp):
        _stage(board, tmp / "stage")
        (tmp / "standins").mkdir()
        for name in FROZEN_STANDINS:
            shutil.copy(STANDINS / name, tmp / "standins" / name)
        # the unix port's manifest and architecture for every board: an esp32_* board's
        # files run here on the stand-ins
        binary = _make(src, MANIFEST, tmp / "stage", fwbuild.arch("unix_sim", bits), bits,
                       "meter" + suffix, tmp / "make.log", tmp / "standins")
        shutil.copy(binary, tmp / "micropython")
        shutil.copy(REPO / "device" / "main.py", tmp / "main.py")
        webassets.build(tmp / "www")
        shutil.rmtree(tmp / "stage")
        shutil.rmtree(tmp / "standins")
    return _once(out, fill)


def interpreter(bits=32):
    """Path of stock MicroPython for the unix port at `bits`, built once per content."""
    src = upy_source.path()
    h = hashlib.sha1(src.name.encode() + _STOCK_MANIFEST.encode())
    h.update(Path(__file__).read_bytes())       # the make flags
    out = CACHE / ("upy%d-%s" % (bits, h.hexdigest()[:12]))

    def fill(tmp):
        (tmp / "manifest.py").write_text(_STOCK_MANIFEST)
        binary = _make(src, tmp / "manifest.py", tmp, fwbuild.arch("unix_sim", bits), bits,
                       "stock%d" % bits, tmp / "make.log")
        shutil.copy(binary, tmp / "micropython")
    return _once(out, fill) / "micropython"


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--plain"]:
        print(interpreter(int(args[1]) if len(args) > 1 else 32))
    else:
        print(firmware(args[0] if args else "unix_sim", int(args[1]) if len(args) > 1 else 64))
