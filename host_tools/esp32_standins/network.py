# Stand-in for the ESP32 port's `network` module (MicroPython 1.26, ports/esp32/
# network_wlan.c), for the unix port only: never part of a device bundle. It runs under
# MicroPython, on the import path of test and fleet meters (host_tools/fleet.py upy_env).
#
# The radio's world is a JSON file the test harness writes (host_tools/wifiworld.py):
#   {"ap": true, "ssid": "site", "password": "...", "join_ms": 3000, "scan_ms": 2000,
#    "ip": "127.0.0.1", "dns": "127.0.0.1"}
# at $WIFI_WORLD, else <METER_ROOT>/wifi.json. No file: no access point in range. A file
# <METER_ROOT>/netdown also switches the access point off. The station writes whether it
# is associated to <METER_ROOT>/wlan.state ("1"/"0"), which the harness's link proxy reads to
# pass or cut the meter's TCP connections: a station that is not joined has no network. The
# soft-AP (AP_IF) writes its name, password, security and whether it is up to
# <METER_ROOT>/wlan_ap.json: what a phone in range sees (wifiworld.SetupAP).
#
# What it follows of the real driver: WLAN(STA_IF) is one object; connect() needs active();
# a join takes join_ms; a wrong password fails after that with status() 202
# (STAT_WRONG_PASSWORD), a missing AP after scan_ms with 201 (STAT_NO_AP_FOUND); the driver
# keeps retrying by itself (the reason stays in status() meanwhile, or 1001 STAT_CONNECTING
# after a beacon timeout); an AP that goes away drops the link (isconnected() False);
# disconnect() stops the retries and status() is 1000 (STAT_IDLE).
import json
import os
import time

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
_ASSOC_LEAVE = 8            # WIFI_REASON_ASSOC_LEAVE: after disconnect()
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

_ROOT = os.getenv("METER_ROOT") or "."
_WORLD = os.getenv("WIFI_WORLD") or _ROOT + "/wifi.json"


_cache = [None, None, 0]    # [world, (mtime, size, netdown), ticks_ms of the last look]


def _world():
    """The world as the radio sees it now: looked at every 200 ms at most, and re-read only
    when its file changed (mtime in whole seconds, and size: wifiworld.World changes the
    size on every write), so polling the link allocates next to nothing, as the ESP32's
    isconnected() allocates nothing."""
    now = time.ticks_ms()
    if _cache[0] is not None and time.ticks_diff(now, _cache[2]) < 200:
        return _cache[0]
    _cache[2] = now
    try:
        st = os.stat(_WORLD)
        mtime = (st[8], st[6])  # whole seconds, so with the size ("ap": true/false differ)
    except OSError:
        mtime = None
    try:
        os.stat(_ROOT + "/netdown")
        down = True
    except OSError:
        down = False
    if _cache[0] is not None and _cache[1] == (mtime, down):
        return _cache[0]
    try:
        with open(_WORLD) as f:
            w = json.load(f)
    except (OSError, ValueError):
        w = {"ap": False}
    if down:
        w["ap"] = False
    _cache[0], _cache[1] = w, (mtime, down)
    return w


class WLAN:
    _ifs = {}

    def __new__(cls, interface=STA_IF):
        w = cls._ifs.get(interface)
        if w is None:
            w = object.__new__(cls)
            w._init(interface)
            cls._ifs[interface] = w
        return w

    def __init__(self, interface=STA_IF):
        pass

    def _init(self, interface):
        self._if = interface
        self._active = False
        self._requested = False
        self._connected = False
        self._reason = 0
        self._t = 0             # ticks_ms when the current association attempt started
        self._ssid = ""
        self._key = ""
        self._ap = {"essid": "ESP_meter", "password": "", "authmode": AUTH_OPEN}
        self._publish(False)

    def _publish(self, joined):
        if self._if == AP_IF:       # what a phone in range sees: the AP's name and security
            a = dict(self._ap, active=self._active)
            with open(_ROOT + "/wlan_ap.json.tmp", "w") as f:
                json.dump(a, f)
            os.rename(_ROOT + "/wlan_ap.json.tmp", _ROOT + "/wlan_ap.json")
            return
        with open(_ROOT + "/wlan.state.tmp", "w") as f:
            f.write("1" if joined else "0")
        os.rename(_ROOT + "/wlan.state.tmp", _ROOT + "/wlan.state")

    def _tick(self):
        """Advance the driver: what the ESP32's WiFi task would have done by now."""
        if self._if != STA_IF or not (self._active and self._requested):
            return
        w = _world()
        now = time.ticks_ms()
        seen = w.get("ap", True) and w.get("ssid") == self._ssid
        key_ok = w.get("password", "") == self._key
        if self._connected:
            if not (seen and key_ok):
                self._connected = False
                self._reason = STAT_BEACON_TIMEOUT
                self._t = now
                self._publish(False)
            return
        took = time.ticks_diff(now, self._t)
        if not seen:
            if took >= w.get("scan_ms", 2000):
                self._reason = STAT_NO_AP_FOUND
                self._t = now       # the driver scans again
        elif took >= w.get("join_ms", 3000):
            if key_ok:
                self._connected = True
                self._publish(True)
            else:
                self._reason = STAT_WRONG_PASSWORD
                self._t = now

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if self._if == AP_IF:
            self._publish(False)
        if not on:
            self._requested = False
            if self._connected:
                self._connected = False
                self._publish(False)

    def connect(self, ssid=None, key=None, *, bssid=None):
        if self._if != STA_IF:
            raise OSError("STA required")
        if not self._active:
            raise OSError("Wifi Not Started")
        if ssid is not None:
            self._ssid = ssid
        if key is not None:
            self._key = key
        self._requested = True
        if not self._connected:
            self._t = time.ticks_ms()

    def disconnect(self):
        self._requested = False
        self._reason = _ASSOC_LEAVE
        if self._connected:
            self._connected = False
            self._publish(False)

    def isconnected(self):
        self._tick()
        return self._connected

    def status(self, param=None):
        if param is not None:
            if param == "rssi" and self._connected:
                return -60
            raise ValueError("unknown status param")
        if self._if != STA_IF:
            return None
        self._tick()
        if self._connected:
            return STAT_GOT_IP
        if self._reason in (STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD):
            return self._reason
        if self._reason == _ASSOC_LEAVE:
            return STAT_IDLE
        if self._requested:
            return STAT_CONNECTING
        return STAT_IDLE if self._reason == 0 else self._reason

    def ifconfig(self, cfg=None):
        if self._if == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")
        if self._connected:
            w = _world()        # (ip, netmask, gateway, the DNS server DHCP gave)
            return (w.get("ip", "127.0.0.1"), "255.255.255.0", "127.0.0.1",
                    w.get("dns", "127.0.0.1"))
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kw):
        if kw:
            if self._if == AP_IF and not self._active:
                raise OSError("Wifi Not Started")   # esp_wifi_set_config needs it started
            for k, v in kw.items():
                self._ap["essid" if k == "ssid" else k] = v
            self._publish(False)
            return None
        key = args[0]
        if key == "mac":
            return b"\x24\x6f\x28\x00\x00\x01"
        if key in ("essid", "ssid"):
            return self._ap["essid"] if self._if == AP_IF else self._ssid
        return self._ap.get(key)
