# Freeze manifest of this board's ESP32 firmware image (host_tools/esp32_firmware.py,
# `make esp32-firmware`): the ESP32 port's own boot modules, asyncio, micropython-lib's
# ntptime (device/clock.py), and the meter's bundle staged into FW_DIR.
freeze("$(PORT_DIR)/modules")
include("$(MPY_DIR)/extmod/asyncio")
require("ntptime")
freeze("$(FW_DIR)", opt=1)
