# MicroPython freeze manifest for the unix_sim meter: asyncio plus the whole firmware bundle
# (host_tools/build.py's module list, staged by host_tools/frozen.py into FW_DIR), compiled
# into the interpreter as an ESP32 firmware image would carry it. Frozen bytecode, strings
# and constants live in the binary, not in the heap.
include("$(MPY_DIR)/extmod/asyncio")
freeze("$(FW_DIR)", opt=1)
# the ESP32's network, machine and ntptime as stand-ins (host_tools/esp32_standins): in an
# ESP32's firmware, not its heap, so in this interpreter too; never in a device bundle
freeze("$(STANDINS_DIR)", opt=1)
