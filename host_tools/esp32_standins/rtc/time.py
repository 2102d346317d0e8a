# Stand-in for the ESP32's clock as `time` shows it, for the unix port only (never part of a
# device bundle): the built-in time (ticks, sleep) with time()/gmtime()/localtime() read
# from a simulated RTC. Like an ESP32 without a backup battery, the RTC starts at
# 2000-01-01 00:00:00 UTC at power-on and counts on through resets; machine.RTC().datetime()
# and ntptime.settime() set it. Its state is <METER_ROOT>/rtc ("<epoch> <host time>"), which
# the harness deletes on a simulated power loss (host_tools/fleet.py Meter.kill).
from utime import *
import utime
import os

_PATH = (os.getenv("METER_ROOT") or ".") + "/rtc"
_POWER_ON = 946684800       # 2000-01-01, the ESP32 RTC's reset value


def _host():
    return utime.time_ns() // 1000000


def _load():
    try:
        with open(_PATH) as f:
            e, h = f.read().split()
        return int(e), int(h)
    except (OSError, ValueError):
        return rtc_set(_POWER_ON)


def rtc_set(epoch):
    global _base
    _base = (int(epoch) * 1000, _host())
    with open(_PATH + ".tmp", "w") as f:
        f.write("%d %d" % _base)
    os.rename(_PATH + ".tmp", _PATH)
    return _base


_base = None
_base = _load()


def time():
    return (_base[0] + _host() - _base[1]) // 1000


def time_ns():
    return (_base[0] + _host() - _base[1]) * 1000000


def gmtime(secs=None):
    return utime.gmtime(time() if secs is None else secs)


localtime = gmtime
