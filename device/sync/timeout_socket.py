# A socket module for umqtt.simple whose every blocking call is bounded by a timeout.
# umqtt.simple (1.3.4) has no timeout parameter: its reads block forever, check_msg() flips
# the socket back to fully blocking after each poll, and a read that times out returns None,
# which its QoS 1 wait loop treats as "nothing yet" and spins on. Installed as
# `umqtt.simple.socket`, this module's sockets keep the timeout when set blocking, raise
# OSError on a timeout or short read/write (the caller then reconnects), and note when data
# last arrived so a silent broker is noticed.
#
# The bound, by construction (docs/protocol.md "Blocking"): Sync calls turn() each time it
# has the event loop back (after every await), which opens a budget of timeout_s
# (mqtt.timeout_ms, at most 80 ms by the settings table). Every socket operation - connect,
# read, write, the TLS handshake's own reads and writes through the plain socket - first
# sets the plain socket's timeout to what is left of that budget, and fails at once
# (ETIMEDOUT) when nothing is left. So all the waiting the sync task does between two
# awaits, however many umqtt calls and packets that turn holds (connect + CONNACK, a
# publish + its PUBACK, polls), adds up to at most mqtt.timeout_ms; a slow or hung broker
# costs a reconnect with backoff. max_wait_ms is the largest timeout ever set, which tests
# check against the bound.
#
# With mqtt.tls (use_tls) every connection is TLS, set up here rather than by umqtt (whose
# 1.3.4 imports a `ussl` module that no longer exists): the TLS socket reads and writes
# through the plain one, whose timeout keeps bounding each of them, the handshake's too (on
# a timeout the port's socket raises ETIMEDOUT, which ends the handshake). The handshake's
# reads each get the budget left when it starts; its CPU time is not bounded here.
import socket as _so
import time

from dns import literal

_ETIMEDOUT = 110
timeout_s = 0.05       # set by sync from mqtt.timeout_ms: the budget of one turn
_end = 0               # ticks_ms when this turn's budget runs out (turn())
max_wait_ms = 0        # the largest timeout set on a socket so far (the bound's witness)
resolver = None        # device/dns.py's Resolver (set by sync): the broker's address
_ctx = None            # tls.SSLContext holding the CA (use_tls)
_server = None         # the broker's name its certificate must carry; None: plain MQTT
_ca_error = None       # why the CA could not be loaded: every connection fails with it
tls_fails = 0          # TLS connections that failed (certificate, handshake, no CA)


def use_tls(ca_path, server):
    """Make every connection TLS, verifying the broker's certificate (name `server`)
    against the CA certificate (PEM or DER) in the file `ca_path`."""
    global _ctx, _server, _ca_error
    _server = server
    try:
        import tls
        with open(ca_path, "rb") as f:
            ca = f.read()
        if ca[:5] == b"-----":       # PEM: MicroPython's own mbedTLS config parses only DER
            from binascii import a2b_base64
            ca = a2b_base64(b"".join(ln for ln in ca.split(b"-----END")[0].split(b"\n")
                                     if ln[:5] != b"-----"))
        c = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        c.verify_mode = tls.CERT_REQUIRED
        c.load_verify_locations(ca)
        _ctx = c
    except (ImportError, OSError, ValueError) as e:
        _ca_error = "mqtt.ca: %r" % (e,)   # last_error keeps 60 characters: no path


def turn():
    """Open a new budget of timeout_s for the socket waits until the next await."""
    global _end
    _end = time.ticks_add(time.ticks_ms(), int(timeout_s * 1000))


def _left(raw):
    """Set raw's timeout to what is left of this turn's budget; ETIMEDOUT if none is."""
    global max_wait_ms
    ms = min(time.ticks_diff(_end, time.ticks_ms()), int(timeout_s * 1000))
    if ms <= 0:
        raise OSError(_ETIMEDOUT)
    if ms > max_wait_ms:
        max_wait_ms = ms
    raw.settimeout(ms / 1000)


def getaddrinfo(host, port, *args):
    """umqtt's lookup of the broker, by the address Sync resolved before connecting
    (device/dns.py): the port's getaddrinfo is only ever given an address, since a name
    would block on lwIP's DNS with no timeout."""
    a = resolver.cached(host) if resolver else (host if literal(host) else None)
    if a is None:
        raise OSError("unresolved " + host[:32])
    return _so.getaddrinfo(a, port, *args)


def socket(*args):
    return TimeoutSocket(_so.socket(*args))


class TimeoutSocket:
    def __init__(self, s):
        self.raw = s                 # the plain socket: timeouts, blocking
        self.s = s                   # what is read and written: raw, or TLS over it
        self.nb = False
        self.rx = False              # data arrived since the caller last cleared this
        self.last_rx = time.ticks_ms()
        s.settimeout(0)              # never blocking until an operation sets its budget
        try:
            s.setsockopt(6, 1, 1)    # IPPROTO_TCP, TCP_NODELAY: umqtt writes a packet in pieces
        except (OSError, AttributeError):
            pass

    def connect(self, addr):
        global tls_fails
        _left(self.raw)
        self.raw.connect(addr)
        if _server is None:
            return
        if _ctx is None:
            tls_fails += 1
            raise OSError(_ca_error)
        try:
            _left(self.raw)
            self.s = _ctx.wrap_socket(self.raw, server_hostname=_server)
        except Exception:            # ValueError: the certificate; OSError: the handshake
            tls_fails += 1
            raise

    def setblocking(self, flag):
        self.nb = not flag
        if not flag:
            self.raw.setblocking(False)
        # (blocking: each read and write sets the timeout left of the turn's budget)

    def read(self, n):
        if not self.nb:
            _left(self.raw)
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
        if not self.nb:
            _left(self.raw)
        w = self.s.write(buf)
        if w is None or w < len(buf):
            raise OSError(_ETIMEDOUT)
        return w

    def close(self):
        self.s.close()              # a TLS socket closes the plain one under it
