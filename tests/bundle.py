"""The unix_sim device bundle (device/ + boards/unix_sim + prepay/ + build/lib, compiled to
x64 .mpy by host_tools.build), as host_tools.fleet builds it: once per source content,
cached under build/. Running the compiled bundle is how the firmware runs on a meter: it
skips MicroPython's compiler, whose transient heap use under -X heapsize=128k says
nothing about the device."""
import upy
from host_tools.fleet import bundle as path  # noqa: F401  (path(board) -> bundle dir)


def micropypath(board="unix_sim", bits=64):
    """.frozen (asyncio), the bundle (for a `bits`-bit port), its lib/, and the device-side
    test scripts."""
    b = path(board, bits=bits)
    return ":".join([".frozen", str(b), str(b / "lib"), str(upy.REPO / "tests" / "device" / "upy")])
