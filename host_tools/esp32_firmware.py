"""Build an ESP32 firmware image with the meter frozen in, as it ships:

    python -m host_tools.esp32_firmware esp32_pzem      # or esp32_analog; make esp32-firmware

It freezes the board's bundle (host_tools/build.py's modules, staged as host_tools/frozen.py
stages them) with boards/<board>/manifest.py into MicroPython's ESP32 port (source:
host_tools/upy_source.py) and writes build/esp32-<board>/firmware.bin; flash it with
esptool, then copy config.json and www/ to the board (host_tools/flash.py).

It needs what this project cannot fetch for you, and stops with a clear message without it:
ESP-IDF (idf.py on PATH after `. $IDF_PATH/export.sh`, the version MicroPython's
ports/esp32/README.md names) and a micropython-lib checkout (MPY_LIB_DIR; Debian's source
package ships lib/micropython-lib empty) for ntptime.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools import frozen, upy_source

REPO = Path(__file__).resolve().parent.parent
BOARDS = ("esp32_pzem", "esp32_analog")


def missing():
    """What the build lacks, in words (empty: it can run)."""
    why = []
    if not shutil.which("idf.py"):
        why.append("ESP-IDF is not installed or not activated (no idf.py on PATH): install it "
                   "and run `. $IDF_PATH/export.sh` first")
    lib = os.environ.get("MPY_LIB_DIR", "")
    if not (lib and (Path(lib) / "micropython" / "net" / "ntptime").is_dir()):
        why.append("MPY_LIB_DIR must name a micropython-lib checkout (for ntptime)")
    return why


def build(board):
    if board not in BOARDS:
        raise SystemExit("esp32_firmware: board must be one of %s" % ", ".join(BOARDS))
    why = missing()
    if why:
        raise SystemExit("esp32_firmware: cannot build the %s image here:\n  - %s"
                         % (board, "\n  - ".join(why)))
    src = upy_source.path()
    out = REPO / "build" / ("esp32-" + board)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "stage"
        frozen._stage(board, stage)
        cmd = ["make", "-C", str(src / "ports" / "esp32"), "BOARD=ESP32_GENERIC",
               "BUILD=build-" + board,
               "FROZEN_MANIFEST=%s" % (REPO / "boards" / board / "manifest.py"),
               "MICROPY_MANIFEST_FW_DIR=%s" % stage,
               "MPY_LIB_DIR=%s" % os.environ["MPY_LIB_DIR"]]
        subprocess.run(["make", "-C", str(src / "mpy-cross")], check=True)
        subprocess.run(cmd, check=True)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "ports" / "esp32" / ("build-" + board) / "firmware.bin", out)
    return out / "firmware.bin"


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "esp32_pzem"))
