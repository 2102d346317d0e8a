"""The unix_sim device bundle (device/ + boards/unix_sim + prepay/ + build/lib, compiled to
x64 .mpy by host_tools.build), built once per pytest process. Running the compiled bundle
is how the firmware runs on a meter: it skips MicroPython's compiler, whose transient heap
use under -X heapsize=128k says nothing about the device."""
import tempfile
from pathlib import Path

import upy

_BUILT = {}


def path(board="unix_sim"):
    if board not in _BUILT:
        from host_tools import build
        out = Path(tempfile.mkdtemp(prefix="bundle-")) / board
        build.build(board, out)
        _BUILT[board] = out
    return _BUILT[board]


def micropypath(board="unix_sim"):
    """.frozen (asyncio), the bundle, its lib/, and the device-side test scripts."""
    b = path(board)
    return ":".join([".frozen", str(b), str(b / "lib"), str(upy.REPO / "tests" / "device" / "upy")])
