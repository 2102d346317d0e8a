"""Flash and provision a meter with mpremote: bundle + config.json onto the board's filesystem.

    python -m host_tools.flash --port PORT --board BOARD [--config CONFIG.json] [--no-build]
                               [--ca CA.pem] [--virtual]

Steps: validate the config with the firmware's own rules (prepay/settings.py), so a bad file
is refused before anything is written; build the bundle (host_tools.build) unless
--no-build; remove stale sources on the board that would shadow a compiled module of the
same name (MicroPython imports x.py before x.mpy); copy the bundle and config.json with
`mpremote connect PORT [resume] fs cp -r ...` (and --ca, the CA certificate of MQTT over
TLS, as ca.pem: host_tools/provision.py CA_FILE); read every file back as sha256 and compare;
reset ESP32 boards so they boot the new firmware.

The unix_sim board (the unix port on a pty made by socat, see docs/pzem.md) is driven
with `resume`, which skips the soft reset the unix port does not support; its "flash" is
the micropython process's working directory. Data on the board (journal, state slots) is
never deleted.

--virtual flashes a virtual board of any board (an esp32_* board's files run on the unix
port with the ESP32 stand-ins, host_tools/esp32_standins): the bundle is compiled for the
unix port (x64) and driven with `resume`; no reset follows, since the unix port has none:
the virtual board is power-cycled instead (tests/test_flash.py boots it from its flash).
"""
import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from host_tools import build as buildmod
from host_tools.provision import CA_FILE
from prepay import settings

REPO = buildmod.REPO
DEST = ":./"   # the board's root: its cwd, "/" on an ESP32 after reset


class FlashError(Exception):
    pass


def check_config(path):
    """Validate a config file with the firmware's own apply() (prepay/settings.py); return its
    text or raise FlashError."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise FlashError(f"config: cannot read {path}: {e.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise FlashError(f"config: {path} is not valid JSON ({e})") from None
    errors = settings.apply({}, doc)[2]
    if errors:
        raise FlashError("config: " + "; ".join(errors))
    return text


def bundle_files(bundle):
    """Paths (relative, posix) of every file in the bundle."""
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())


def _remove_shadows_script(files):
    shadows = [f[:-4] + ".py" for f in files if f.endswith(".mpy")]
    return ("import os\nfor p in %r:\n try:\n  os.remove(p)\n  print('removed stale', p)\n"
            " except OSError:\n  pass\n" % (shadows,))


def _hash_script(files):
    return ("import hashlib, binascii, json\nout = {}\nfor p in %r:\n try:\n"
            "  h = hashlib.sha256()\n  with open(p, 'rb') as f:\n   while True:\n"
            "    b = f.read(512)\n    if not b:\n     break\n    h.update(b)\n"
            "  out[p] = binascii.hexlify(h.digest()).decode()\n except OSError:\n"
            "  out[p] = None\nprint('HASHES', json.dumps(out))\n" % (files,))


def mpremote(port, resume, *cmd, timeout=600):
    argv = [sys.executable, "-m", "mpremote", "connect", port] + (["resume"] if resume else []) \
        + list(cmd)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise FlashError(f"mpremote failed ({r.returncode}): {(r.stderr or r.stdout).strip()}")
    return r.stdout


def flash(port, board, config=None, no_build=False, bundle=None, resume=None, log=print,
          ca=None, arch=None):
    """Build (unless no_build; for `arch`, else the board's), copy and verify; return the
    number of files written."""
    if board not in buildmod.ARCH:
        raise FlashError(f"unknown board {board!r} (one of {', '.join(sorted(buildmod.ARCH))})")
    cfg_text = check_config(config) if config else None
    if ca is not None and not Path(ca).is_file():
        raise FlashError(f"ca: cannot read {ca}")
    bundle = Path(bundle) if bundle else REPO / "build" / board
    if not no_build:
        n = buildmod.build(board, bundle, arch)
        log(f"flash: built {n} modules for {board} ({arch or buildmod.ARCH[board]}) -> {bundle}")
    elif not (bundle / "main.py").exists():
        raise FlashError(f"--no-build: no bundle at {bundle} (run host_tools.build first)")
    if resume is None:
        resume = board == "unix_sim"
    files = bundle_files(bundle)
    entries = sorted(str(p) for p in bundle.iterdir())
    cmd = ["exec", _remove_shadows_script(files), "+", "fs", "cp", "-r", *entries, DEST]
    if cfg_text is not None:
        cmd += ["+", "fs", "cp", str(config), ":config.json"]
    if ca is not None:
        cmd += ["+", "fs", "cp", str(ca), ":" + CA_FILE]
    out = mpremote(port, resume, *cmd)
    for line in out.splitlines():
        if line.startswith("removed stale"):
            log("flash: " + line)
    want = {f: hashlib.sha256((bundle / f).read_bytes()).hexdigest() for f in files}
    if cfg_text is not None:
        want["config.json"] = hashlib.sha256(Path(config).read_bytes()).hexdigest()
    if ca is not None:
        want[CA_FILE] = hashlib.sha256(Path(ca).read_bytes()).hexdigest()
    got = {}
    for line in mpremote(port, resume, "exec", _hash_script(sorted(want))).splitlines():
        if line.startswith("HASHES "):
            got = json.loads(line[7:])
    bad = sorted(f for f in want if got.get(f) != want[f])
    if bad:
        raise FlashError(f"verify: {len(bad)} file(s) differ on the board: {', '.join(bad[:5])}")
    log(f"flash: {len(want)} files on {port} verified (sha256)")
    if not resume:
        mpremote(port, False, "reset")   # boot the new firmware
        log("flash: board reset")
    return len(want)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="serial port (or the pty of a unix_sim board)")
    ap.add_argument("--board", required=True, choices=sorted(buildmod.ARCH))
    ap.add_argument("--config", help="the meter's config.json (validated before flashing)")
    ap.add_argument("--no-build", action="store_true", help="flash the existing build/BOARD")
    ap.add_argument("--bundle", help="bundle directory (default build/BOARD)")
    ap.add_argument("--ca", help="CA certificate for MQTT over TLS, copied as ca.pem (mqtt.ca)")
    ap.add_argument("--virtual", action="store_true",
                    help="a virtual board (the unix port on a pty): x64 bundle, no reset")
    a = ap.parse_args(argv)
    try:
        flash(a.port, a.board, a.config, a.no_build, a.bundle, ca=a.ca,
              resume=True if a.virtual else None, arch="x64" if a.virtual else None)
    except FlashError as e:
        print(f"flash: {e}", file=sys.stderr)
        sys.exit(2)
    except subprocess.TimeoutExpired:
        print("flash: mpremote timed out (is the board connected?)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
