"""`make esp32-firmware` (host_tools/esp32_firmware.py) on a machine without ESP-IDF: it
fails with a message that says what is missing, before building anything."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_without_esp_idf_it_says_what_is_missing(tmp_path):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + ":/usr/bin:/bin")
    env.pop("MPY_LIB_DIR", None)
    r = subprocess.run([sys.executable, "-m", "host_tools.esp32_firmware", "esp32_pzem"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "ESP-IDF is not installed" in r.stderr and "MPY_LIB_DIR" in r.stderr, r.stderr
    assert not (REPO / "build" / "esp32-esp32_pzem" / "firmware.bin").exists()


def test_board_manifests_freeze_the_bundle_and_ntptime():
    for board in ("esp32_pzem", "esp32_analog"):
        text = (REPO / "boards" / board / "manifest.py").read_text()
        assert 'freeze("$(FW_DIR)"' in text and 'require("ntptime")' in text
