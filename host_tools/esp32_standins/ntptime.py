# Stand-in for micropython-lib's `ntptime` (frozen into the ESP32 firmware), for the unix
# port only: never part of a device bundle. The same code as the library's: one SNTP query
# over real UDP, socket timeout `timeout` s (an unreachable server raises OSError ETIMEDOUT
# from recv, as lwIP on the device does), settime() sets the RTC. The differences: the server's
# port comes from $NTP_PORT (default 123), so a test's responder needs no root; and a host
# that is a name, not an address, is refused (names_refused counts it): on an ESP32 it would
# be lwIP's blocking DNS lookup, which the firmware avoids by resolving first (device/dns.py).
import os
import socket
import struct
import utime

host = "pool.ntp.org"
timeout = 1
_PORT = int(os.getenv("NTP_PORT") or 123)
names_refused = 0


def _address(h):
    global names_refused
    p = h.split(".")
    if len(p) != 4 or not all(x.isdigit() for x in p):
        names_refused += 1
        raise OSError("ntptime stand-in: %s is a name, a blocking lookup" % h)
    return h


def time():
    NTP_QUERY = bytearray(48)
    NTP_QUERY[0] = 0x1B
    addr = socket.getaddrinfo(_address(host), _PORT)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(NTP_QUERY, addr)
        try:
            msg = s.recv(48)
        except OSError as e:    # the unix socket says EAGAIN where lwIP says ETIMEDOUT;
            if e.errno == 111:  # lwIP ignores an ICMP port unreachable: it waits it out
                utime.sleep_ms(int(timeout * 1000))
            if e.errno in (11, 111):
                raise OSError(116)
            raise
    finally:
        s.close()
    val = struct.unpack("!I", msg[40:44])[0]
    MIN_NTP_TIMESTAMP = 3913056000      # 2024-01-01 00:00:00 UTC in NTP seconds
    if val < MIN_NTP_TIMESTAMP:
        val += 0x100000000
    EPOCH_YEAR = utime.gmtime(0)[0]
    if EPOCH_YEAR == 2000:
        NTP_DELTA = 3155673600
    elif EPOCH_YEAR == 1970:
        NTP_DELTA = 2208988800
    else:
        raise Exception("Unsupported epoch: {}".format(EPOCH_YEAR))
    return val - NTP_DELTA


def settime():
    t = time()
    import machine
    tm = utime.gmtime(t)
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
