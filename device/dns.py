# Name lookups that never hold the event loop (docs/protocol.md "Blocking"). lwIP's
# getaddrinfo blocks until its resolver answers or gives up, seconds on an ESP32, and no
# socket timeout bounds it; so sync (mqtt.host) and the clock (ntp.host) resolve here
# first and then connect or query by address. One A query over a non-blocking UDP socket to
# the DNS server the network gave (WLAN.ifconfig()[3], kept by device/net.py), polled every
# _POLL_MS from the caller's task: no socket call here ever waits. _TRIES tries of _WAIT_MS
# each; an answer is kept for its TTL (at least _TTL_MIN, at most _TTL_MAX). A literal IPv4
# address needs no lookup. A failed lookup is counted (fails, last_error) and the caller
# counts its own failure (conn_fails, ntp_fails) and backs off.
import asyncio
import random
import socket
import struct
import time

from micropython import const

_PORT = const(53)
_TRIES = const(3)
_WAIT_MS = const(1000)      # real ms for an answer to one try
_POLL_MS = const(20)
_TTL_MIN = const(60)        # s
_TTL_MAX = const(86400)
_CACHE = const(4)           # names kept (sync's and the clock's, with room)


def literal(host):
    """True if host is a dotted IPv4 address: used as it is, without a lookup."""
    p = host.split(".")
    if len(p) != 4:
        return False
    for x in p:
        if not (x.isdigit() and len(x) <= 3 and int(x) <= 255):
            return False
    return True


def _skip_name(m, i):
    """The offset after the (possibly compressed) name at m[i]."""
    while True:
        n = m[i]
        if n == 0:
            return i + 1
        if n >= 0xC0:           # a pointer ends the name
            return i + 2
        i += n + 1


class Resolver:
    def __init__(self, net):
        self.net = net          # device/net.py: dns_server, the address the network gave
        self.port = _PORT
        self._cache = {}        # name -> (address, ticks_ms it expires)
        self.lookups = 0        # queries answered with an address
        self.fails = 0          # lookups that found no address (no answer, no such name)
        self.last_error = ""

    def cached(self, host):
        """host's address if it is one or is known and fresh, else None. Never waits."""
        if literal(host):
            return host
        e = self._cache.get(host)
        if e and time.ticks_diff(e[1], time.ticks_ms()) > 0:
            return e[0]
        return None

    async def resolve(self, host):
        """host's IPv4 address as a string, or None (counted) if it cannot be had."""
        a = self.cached(host)
        if a:
            return a
        try:
            a, ttl = await self._ask(host)
        except (OSError, ValueError, IndexError) as e:   # IndexError: a truncated answer
            self.fails += 1
            self.last_error = ("dns %s: %r" % (host, e))[:48]
            return None
        if len(self._cache) >= _CACHE and host not in self._cache:
            self._cache.pop(next(iter(self._cache)))
        ttl = min(max(ttl, _TTL_MIN), _TTL_MAX)
        self._cache[host] = (a, time.ticks_add(time.ticks_ms(), ttl * 1000))
        self.lookups += 1
        return a

    async def _ask(self, host):
        server = self.net.dns_server
        if not literal(server) or server == "0.0.0.0":
            raise OSError("no DNS server")
        qid = random.getrandbits(16)
        q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)     # recursion desired, 1 query
        for label in host.split("."):
            q += bytes((len(label),)) + label.encode()
        q += b"\x00\x00\x01\x00\x01"                             # end of name; A, IN
        addr = socket.getaddrinfo(server, self.port)[0][-1]    # a literal: no lookup
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setblocking(False)
            for _ in range(_TRIES):
                s.sendto(q, addr)
                t0 = time.ticks_ms()
                while time.ticks_diff(time.ticks_ms(), t0) < _WAIT_MS:
                    await asyncio.sleep_ms(_POLL_MS)
                    try:
                        m = s.recv(512)
                    except OSError:     # EAGAIN: nothing yet (or a refusal: wait it out)
                        continue
                    r = self._parse(m, qid)
                    if r:
                        return r
            raise OSError("no answer")
        finally:
            s.close()

    @staticmethod
    def _parse(m, qid):
        """(address, ttl) from an answer to query qid; None if m is not that answer."""
        i, flags, qd, an = struct.unpack_from("!HHHH", m, 0)
        if i != qid or not flags & 0x8000:
            return None                 # not the answer to this query: keep waiting
        if flags & 0xF:
            raise OSError("rcode %d" % (flags & 0xF))   # 3: no such name
        p = 12
        for _ in range(qd):
            p = _skip_name(m, p) + 4
        for _ in range(an):
            p = _skip_name(m, p)
            typ, cls, ttl, n = struct.unpack_from("!HHIH", m, p)
            p += 10
            if typ == 1 and cls == 1 and n == 4:
                return "%d.%d.%d.%d" % tuple(m[p:p + 4]), ttl
            p += n                      # a CNAME on the way: its A follows
        raise OSError("no address")
