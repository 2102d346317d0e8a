# Where the meter's clock comes from, and the task that keeps it: NTP (ntp.host, with the
# firmware's ntptime) whenever the network is up, every _EVERY_MS once synced, with backoff
# after a failure; the gateway's time command is the fallback (sync/commands.py set_time).
# An unsynced clock keeps today's rules (records flagged unsynced, time requests to the
# gateway). The source is told on the page (/api/status clock) and in telemetry (clock):
#   "ntp"       set by NTP
#   "gateway"   set by the gateway's time command (NTP failing, or not configured)
#   "rtc"       valid at boot, kept by the RTC through a reset; not yet re-synced
#   "unsynced"  never set since the RTC lost power
# ntptime blocks the event loop for up to ntp.timeout_ms, which the settings table limits to
# 80 ms (the 100 ms bound, docs/protocol.md "Blocking"; a socket timeout). A name in ntp.host
# is resolved first without blocking (device/dns.py) and ntptime is given the address, so
# its own getaddrinfo never looks a name up; a failed lookup is an NTP failure.
import asyncio

from micropython import const

_EVERY_MS = const(21600000)     # re-sync every 6 h once synced
_RETRY_MIN = const(30000)       # after a failure, the next try; doubling up to _RETRY_MAX
_RETRY_MAX = const(3600000)
_SLACK_S = const(10)            # a jump beyond this is an event (time_sync)


class Clock:
    def __init__(self, board, net, dns, events, host, timeout_ms):
        self.board = board
        self.net = net
        self.dns = dns          # device/dns.py: ntp.host's address
        self.events = events
        self.host = host
        self.timeout_ms = timeout_ms
        self.source = "rtc" if board.rtc_valid() else "unsynced"
        self.ntp_ok = 0          # NTP syncs
        self.ntp_fails = 0       # NTP attempts that failed (timeout, no answer, bad name)
        self.last_error = ""

    def set(self, t, source):
        """Set the clock to UTC epoch t from `source` if it was unsynced or is off by more
        than the slack (then emitted as time_sync); True if it was set."""
        b = self.board
        old = b.time()
        self.source = source
        if b.rtc_valid() and abs(t - old) <= _SLACK_S:
            return False
        b.set_time(t)
        self.events.emit("time_sync", old=old, new=t, src=source)
        return True

    def stats(self):
        return {"source": self.source, "ntp_host": self.host, "ntp_ok": self.ntp_ok,
                "ntp_fails": self.ntp_fails, "last_error": self.last_error}

    def _ntp(self, addr):
        import ntptime       # in the ESP32 firmware (micropython-lib); kept once loaded:
        ntptime.host = addr  # dropping it after each use saved 224 B of the 32-bit heap
        ntptime.timeout = self.timeout_ms / 1000
        return ntptime.time()

    async def run(self):
        if not self.host:
            return              # NTP off: the gateway's time command keeps the clock
        retry = _RETRY_MIN
        while True:
            while not self.net.up():
                await asyncio.sleep_ms(1000)
            addr = await self.dns.resolve(self.host)
            try:
                if addr is None:
                    raise OSError(self.dns.last_error)
                t = self._ntp(addr)
            except Exception as e:  # noqa: OSError (ETIMEDOUT, DNS), ImportError, a bad answer
                self.ntp_fails += 1
                self.last_error = repr(e)[:48]
                await asyncio.sleep_ms(retry)
                retry = min(retry * 2, _RETRY_MAX)
                continue
            self.ntp_ok += 1
            self.set(t, "ntp")
            retry = _RETRY_MIN
            await asyncio.sleep_ms(_EVERY_MS)
