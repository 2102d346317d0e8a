"""host_tools.flash end to end: the unix port as a virtual board (socat pty + micropython -i,
its working directory is the "flash"), flashed with mpremote, then the compiled bundle is
imported on the board. Bad configs are refused before anything is written."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import upy

REPO = upy.REPO
GOOD_CONFIG = {"meter": {"id": "m-001", "utc_offset_min": 330}, "mqtt": {"host": ""}}


def flash_cli(*args):
    return subprocess.run([sys.executable, "-m", "host_tools.flash", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.fixture
def board(tmp_path):
    """A unix-port MicroPython REPL on a pty, like an ESP32 on USB serial."""
    if not shutil.which("socat"):
        pytest.skip("socat is not installed (make deps)")
    flash_dir = tmp_path / "flash"
    flash_dir.mkdir()
    tty = tmp_path / "tty"
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}  # only its own files
    p = subprocess.Popen(["socat", f"PTY,link={tty},rawer",
                          f"EXEC:{upy.MICROPYTHON} -i,pty,rawer,stderr,setsid,ctty"],
                         cwd=flash_dir, env=env, start_new_session=True)
    for _ in range(100):
        if tty.exists():
            break
        time.sleep(0.05)
    else:
        p.kill()
        pytest.fail("socat did not create the pty")
    yield tty, flash_dir
    os.killpg(p.pid, signal.SIGTERM)   # closing the pty hangs up micropython (its ctty)
    p.wait(timeout=10)


def mpremote(tty, *cmd):
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(tty), "resume", *cmd],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_flash_unix_sim_board_end_to_end(board, tmp_path):
    tty, flash_dir = board
    (flash_dir / "meter.py").write_text("raise SystemExit('stale source')\n")  # shadows meter.mpy
    (flash_dir / "journal").mkdir()
    (flash_dir / "journal" / "seg0").write_bytes(b"records")     # data: must survive
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(GOOD_CONFIG))
    bundle = tmp_path / "bundle"
    r = flash_cli("--port", tty, "--board", "unix_sim", "--config", cfg, "--bundle", bundle)
    assert r.returncode == 0, r.stderr
    assert "removed stale meter.py" in r.stdout and "verified (sha256)" in r.stdout

    files = [p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file()]
    assert len(files) > 20
    for rel in files:
        assert (flash_dir / rel).read_bytes() == (bundle / rel).read_bytes(), rel
    assert (flash_dir / "main.py").exists() and (flash_dir / "measure" / "modbus.mpy").exists()
    assert not (flash_dir / "meter.py").exists()
    assert (flash_dir / "config.json").read_text() == cfg.read_text()
    assert (flash_dir / "journal" / "seg0").read_bytes() == b"records"

    out = mpremote(tty, "exec", "import measure.modbus as m, meter, board\n"
                   "print(m.__file__, meter.__file__, board.NAME, m.crc16(b'123456789', 9))")
    assert out.split() == ["measure/modbus.mpy", "meter.mpy", "unix_sim", str(0x4B37)]

    # a second flash copies nothing new but still verifies every file
    r = flash_cli("--port", tty, "--board", "unix_sim", "--no-build", "--bundle", bundle)
    assert r.returncode == 0, r.stderr
    want = hashlib.sha256((bundle / "meter.mpy").read_bytes()).hexdigest()
    assert hashlib.sha256((flash_dir / "meter.mpy").read_bytes()).hexdigest() == want


@pytest.mark.parametrize("content,err", [
    ("{not json", "not valid JSON"),
    (json.dumps({"meter": {"id": "m-001", "colour": "red"}}), "meter.colour: unknown setting"),
    (json.dumps({"meter": {"id": "M 1"}}), "meter.id: must be"),
    (json.dumps({"meter": {"id": "m-1"}, "mqtt": {"port": "1883"}}), "mqtt.port: expected int"),
    (None, "cannot read"),
])
def test_bad_config_is_refused_before_anything_is_written(tmp_path, content, err):
    cfg = tmp_path / "config.json"
    if content is not None:
        cfg.write_text(content)
    r = flash_cli("--port", tmp_path / "no-such-port", "--board", "unix_sim", "--config", cfg,
                  "--bundle", tmp_path / "bundle")
    assert r.returncode == 2 and err in r.stderr, r.stderr
    assert not (tmp_path / "bundle").exists()           # not even built


def test_missing_bundle_and_missing_board_are_clear_errors(tmp_path):
    r = flash_cli("--port", tmp_path / "tty", "--board", "unix_sim", "--no-build",
                  "--bundle", tmp_path / "none")
    assert r.returncode == 2 and "no bundle at" in r.stderr
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "main.py").write_text("")
    r = flash_cli("--port", tmp_path / "tty", "--board", "unix_sim", "--no-build",
                  "--bundle", tmp_path / "b")
    assert r.returncode == 2 and "mpremote failed" in r.stderr
