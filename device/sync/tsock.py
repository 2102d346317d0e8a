# A socket module for umqtt.simple whose every blocking call is bounded by a timeout.
# umqtt.simple (1.3.4) has no timeout parameter: its reads block forever, check_msg() flips
# the socket back to fully blocking after each poll, and a read that times out returns None,
# which its QoS 1 wait loop treats as "nothing yet" and spins on. Installed as
# `umqtt.simple.socket`, this module's sockets keep the timeout when set blocking, raise
# OSError on a timeout or short read/write (the caller then reconnects), and note when data
# last arrived so a silent broker is noticed.
import socket as _so
import time

_ETIMEDOUT = 110
timeout_s = 0.2        # set by sync from mqtt.timeout_ms
_addr = {}             # (host, port) -> getaddrinfo result: resolve once (DNS blocks)


def getaddrinfo(host, port, *args):
    k = (host, port)
    r = _addr.get(k)
    if r is None:
        r = _addr[k] = _so.getaddrinfo(host, port, *args)
    return r


def socket(*args):
    return TSock(_so.socket(*args), timeout_s)


class TSock:
    def __init__(self, s, t):
        self.s = s
        self.t = t
        self.nb = False
        self.rx = False              # data arrived since the caller last cleared this
        self.last_rx = time.ticks_ms()
        s.settimeout(t)
        try:
            s.setsockopt(6, 1, 1)    # IPPROTO_TCP, TCP_NODELAY: umqtt writes a packet in pieces
        except (OSError, AttributeError):
            pass

    def connect(self, addr):
        self.s.connect(addr)

    def setblocking(self, flag):
        self.nb = not flag
        if flag:
            self.s.settimeout(self.t)
        else:
            self.s.setblocking(False)

    def read(self, n):
        try:
            r = self.s.read(n)
        except OSError as e:
            if self.nb and e.args and e.args[0] == 11:   # EAGAIN while polling
                return None
            raise
        if r is None:
            if self.nb:
                return None
            raise OSError(_ETIMEDOUT)
        if r:
            self.rx = True
            self.last_rx = time.ticks_ms()
            if len(r) < n:
                raise OSError(_ETIMEDOUT)   # the rest did not come in time
        return r

    def write(self, buf, n=None):
        if n is not None and n < len(buf):
            buf = memoryview(buf)[:n]
        w = self.s.write(buf)
        if w is None or w < len(buf):
            raise OSError(_ETIMEDOUT)
        return w

    def close(self):
        self.s.close()
