"""Run code under the real unix-port MicroPython, with a capped heap.

Device tests are CPython pytest files that drive `micropython` processes; the device code
itself never runs under CPython in those tests. Scripts print JSON lines that tests parse.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MICROPYTHON = str(BIN / "micropython") if (BIN / "micropython").exists() else shutil.which("micropython")
DEFAULT_HEAP = "128k"


def micropypath(board="unix_sim"):
    """Import path for device code run from source: device/, the board, shared rules, libs.
    ".frozen" first: MICROPYPATH replaces the default path, and asyncio is frozen in."""
    return ":".join(str(p) for p in (".frozen", REPO / "device", REPO / "boards" / board, REPO,
                                     REPO / "build" / "lib", REPO / "tests" / "device" / "upy",
                                     REPO / "host_tools" / "esp32_standins"))


def env(board="unix_sim", **extra):
    e = dict(os.environ)
    e["MICROPYPATH"] = micropypath(board)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def _rel(p):
    """`p` relative to the checkout when it is under it."""
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def local(e):
    """`e` (an env) with MICROPYPATH relative to the checkout, for a process run in it. The
    heap then holds the same path strings wherever the checkout is: a checkout path 6 bytes
    longer (CI's) cost a 128k run its last block. A board's are shorter still ("/lib")."""
    e["MICROPYPATH"] = ":".join(x if x.startswith(".") else _rel(x)
                                for x in e["MICROPYPATH"].split(":"))
    return e


def _find(script):
    """The script file: a path, or a name under tests/device/upy (None: neither, -c code)."""
    for p in (Path(script), REPO / "tests" / "device" / "upy" / script):
        if p.exists():
            return p
    return None


def script_path(script):
    """A script file (_find), relative to the checkout."""
    return _rel(_find(script))


def cmd(heap=DEFAULT_HEAP, exe=None):
    return [str(exe or MICROPYTHON), "-X", "heapsize=" + heap]


def run(script, *args, heap=DEFAULT_HEAP, timeout=300, check=True, board="unix_sim", exe=None,
        **envs):
    """Run a script file (path, or name under tests/device/upy) or `-c` code; return stdout.
    `exe`: another interpreter (host_tools.frozen.interpreter(32), the 32-bit port)."""
    p = _find(script)
    argv = cmd(heap, exe) + ([_rel(p)] if p else ["-c", script]) + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env=local(env(board, **envs)), cwd=str(REPO))
    if check and r.returncode != 0:
        raise AssertionError(f"micropython exited {r.returncode}\nstdout:\n{r.stdout[-4000:]}\n"
                             f"stderr:\n{r.stderr[-4000:]}")
    return r.stdout


def run_json(script, *args, **kw):
    """Run and parse every stdout line that is a JSON object."""
    out = []
    for line in run(script, *args, **kw).splitlines():
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            out.append(json.loads(line))
    return out


def check_module(name):
    """A tests/device/upy check script imported into CPython, so the same function runs on
    both runtimes (the shared prepay/ rules)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "device" / "upy" /
                                                  (name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
