# The network link, owned by this one task: it joins the WiFi as a station (wifi.ssid,
# wifi.password), watches the link, and joins again after a drop or a failed join, with
# exponential backoff. Sync asks up() and nothing else; metering, credit and the relay never
# wait on it. The radio is the board's (board.wlan(): network.WLAN(STA_IF) on an ESP32, the
# same API over a simulated world on unix_sim), so this code is the same on both. What it
# sees is counted (attempts, drops, fails) and told in words (state()) on the page's status
# and in telemetry; no events: a flapping link would flood the events ring.
#
# The ESP32 driver retries a lost or failed association by itself (MicroPython's
# network_wlan.c), and its WLAN.status() then reports the last reason: 202 wrong password,
# 201 AP not found, 1001 still connecting. A join that has not got an IP within _JOIN_MS is
# abandoned (disconnect) and started again after the backoff, so a changed password or a
# radio stuck in a bad state is retried from scratch. Real (not meter) milliseconds: the
# radio's times do not speed up with an accelerated meter clock.
import asyncio
import random
import time

from micropython import const

_GOT_IP = const(1010)
_JOIN_MS = const(15000)     # a join with no IP by then is abandoned
_POLL_MS = const(250)       # status polls while joining
_WATCH_MS = const(500)      # link checks while up
_BACKOFF_MIN = const(2000)
_BACKOFF_MAX = const(60000)


# WLAN.status() codes in words: /api/status and telemetry say these (docs/web.md); the page
# says them in the consumer's language from the catalogue's net.<code> entries instead.
_WORDS = {_GOT_IP: "got IP", 1001: "connecting", 1000: "idle", 202: "wrong password",
          201: "AP not found",
          200: "AP lost",       # beacon timeout: it was joined and the AP went silent
          204: "handshake timeout", 203: "association failed"}


def word(code):
    """The ESP32 WLAN.status() code in words (docs/web.md lists them)."""
    return _WORDS.get(code) or "error %d" % code


class Net:
    def __init__(self, board, ssid, password, ap_name="", ap_password=""):
        self.board = board
        self.ssid = ssid
        self.password = password
        self.ap_name = ap_name          # the setup access point, while there is no ssid
        self.ap_password = ap_password
        self.ap = False                 # the setup access point is up
        self.code = 1000        # latest WLAN.status()
        self.ip = ""
        self.dns_server = ""    # the DNS server the network gave (device/dns.py asks it)
        self.attempts = 0       # joins started
        self.drops = 0          # times an established link was lost
        self.fails = 0          # joins abandoned without an IP
        self.beats = 0          # loop rounds: progress, for the watchdog
        self._up = False

    def up(self):
        return self._up

    def state(self):
        if self.ssid:
            return word(self.code)
        return "setup access point" if self.ap else "no WiFi configured"

    def key(self):
        """The state as the page's catalogue key (device/web/assets/lang: net.*) and the
        number its phrase takes (an unknown status code)."""
        if not self.ssid:
            return "net.ap" if self.ap else "net.none", 0
        return ("net.%d" % self.code if self.code in _WORDS else "net.error"), self.code

    def stats(self):
        return {"state": self.state(), "up": self._up, "ip": self.ip, "ssid": self.ssid,
                "attempts": self.attempts, "drops": self.drops, "fails": self.fails,
                "ap": self.ap_name if self.ap else ""}

    def _setup_ap(self):
        """No network to join: open the meter's own WPA2 access point, where the owner sets
        one up on the page (http://192.168.4.1/, the PIN-protected admin settings)."""
        if not self.ap_password:
            return              # never an open AP: anyone in range could reach the page
        ap = self.board.wlan(True)
        ap.active(True)
        ap.config(essid=self.ap_name, password=self.ap_password, authmode=3)   # WPA2-PSK
        self.ap = True

    async def run(self):
        if not self.ssid:
            self._setup_ap()
        while not self.ssid:    # nothing to join until the owner saves one and restarts
            self.beats += 1
            await asyncio.sleep_ms(_WATCH_MS * 8)
        w = self.board.wlan()
        w.active(True)
        backoff = _BACKOFF_MIN
        while True:
            self.attempts += 1
            w.connect(self.ssid, self.password)
            t0 = time.ticks_ms()
            while not w.isconnected() and time.ticks_diff(time.ticks_ms(), t0) < _JOIN_MS:
                self.code = w.status()
                self.beats += 1
                await asyncio.sleep_ms(_POLL_MS)
            if not w.isconnected():
                self.code = w.status()
                self.fails += 1
                w.disconnect()
                wait = backoff // 2 + random.getrandbits(16) % (backoff // 2 + 1)
                while wait > 0:         # in slices: each one is progress
                    self.beats += 1
                    await asyncio.sleep_ms(min(wait, _WATCH_MS))
                    wait -= _WATCH_MS
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            backoff = _BACKOFF_MIN
            self.code = _GOT_IP
            cfg = w.ifconfig()
            self.ip = cfg[0]
            self.dns_server = cfg[3]
            self._up = True
            while w.isconnected():
                self.beats += 1
                await asyncio.sleep_ms(_WATCH_MS)
            self._up = False
            self.ip = self.dns_server = ""
            self.drops += 1
            self.code = w.status()
