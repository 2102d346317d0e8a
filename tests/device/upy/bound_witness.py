# A witness of the 100 ms bound (docs/protocol.md "Blocking") on real sockets, from outside
# device/sync/timeout_socket.py: install() puts a recording layer between timeout_socket and the port's
# sockets. Each timeout timeout_socket sets on a socket is compared, when it is set, with what was left
# of the turn's budget as timeout_socket's wait began (timeout_socket._end): `over_ms`, the most any timeout
# reached past its turn's end (0 or less when the bound holds). A socket left to block
# without a timeout is counted in `unbounded`. Test harness only (tests/device/test_sync.py).
import socket
import time

from sync import timeout_socket

stats = {"waits": 0, "max_ms": 0, "over_ms": -1000, "unbounded": 0}
_began = [0]          # ticks_ms when timeout_socket's current wait began (before it read the clock)


class _Watched:
    def __init__(self, s):
        self.s = s

    def settimeout(self, t):
        if t is None:
            stats["unbounded"] += 1
        elif t > 0:
            ms = int(t * 1000 + 0.5)
            stats["waits"] += 1
            stats["max_ms"] = max(stats["max_ms"], ms)
            stats["over_ms"] = max(stats["over_ms"], ms - time.ticks_diff(timeout_socket._end, _began[0]))
        self.s.settimeout(t)

    def setblocking(self, flag):
        if flag:
            stats["unbounded"] += 1
        self.s.setblocking(flag)

    def connect(self, addr):
        return self.s.connect(addr)

    def read(self, n):
        return self.s.read(n)

    def write(self, buf):
        return self.s.write(buf)

    def setsockopt(self, *a):
        return self.s.setsockopt(*a)

    def close(self):
        self.s.close()


class _Sockets:
    """What timeout_socket uses of the socket module, handing out watched sockets."""
    getaddrinfo = staticmethod(socket.getaddrinfo)

    @staticmethod
    def socket(*a):
        return _Watched(socket.socket(*a))


def install():
    left = timeout_socket._left

    def watched_left(raw):
        _began[0] = time.ticks_ms()
        left(raw)

    timeout_socket._left = watched_left
    timeout_socket._so = _Sockets
