"""device/dns.py under micropython against a DNS server on loopback (tests/dnsd.py), and its
use by the clock (ntp.host) and sync (mqtt.host): a name is resolved once by a non-blocking
query and kept for its TTL, the address is what NTP queries and what umqtt connects to, and
a silent DNS server costs a counted failure while the event loop keeps running. By
construction: the resolver's socket never blocks (setblocking(False) before any send or
receive, no timeout set), and no getaddrinfo on the firmware's path is ever given a name."""
import pytest

import upy
from dnsd import Dnsd
from ntpd import Ntpd

SCRIPT = """
import asyncio, json, sys, socket
import dns
from dns import Resolver
from clock import Clock
from sync import timeout_socket
from sync.mqtt import Sync

port = int(sys.argv[1])

class Net:
    dns_server = "127.0.0.1"
    def up(self):
        return True

class Sock:                         # a socket, watched: how each call may wait
    def __init__(self, s):
        self.s, self.log, self.to = s, [], []
    def setblocking(self, f):
        self.log.append("blocking" if f else "nonblocking")
        self.s.setblocking(f)
    def settimeout(self, t):
        self.log.append("timeout")
        self.s.settimeout(t)
    def sendto(self, b, a):
        self.log.append("sendto")
        self.to.append(a)
        return self.s.sendto(b, a)
    def recv(self, n):
        self.log.append("recv")
        return self.s.recv(n)
    def close(self):
        self.s.close()

class SockMod:
    AF_INET, SOCK_DGRAM = socket.AF_INET, socket.SOCK_DGRAM
    def __init__(self):
        self.socks = []
        self.looked_up = []
    def socket(self, *a):
        s = Sock(socket.socket(*a))
        self.socks.append(s)
        return s
    def getaddrinfo(self, host, *a):
        self.looked_up.append(host)
        return socket.getaddrinfo(host, *a)
    def log_to(self, ports):        # the calls on the sockets that sent to these ports
        addrs = [socket.getaddrinfo("127.0.0.1", p)[0][-1] for p in ports]
        return [x for s in self.socks if s.to and s.to[0] in addrs for x in s.log]

class Board:
    def rtc_valid(self):
        return False
    def time(self):
        return 0
    def set_time(self, t):
        self.t = t

class Events:
    def emit(self, *a, **k):
        pass

class M:
    pass

async def clock_once(c):
    t = asyncio.create_task(c.run())
    while not (c.ntp_ok or c.ntp_fails):
        await asyncio.sleep_ms(20)
    t.cancel()

async def main():
    out = {}
    mod = dns.socket = SockMod()
    sys.modules["socket"] = mod     # ntptime's too: it is imported for each query
    timeout_socket._so = SockMod()
    r = Resolver(Net())
    r.port = port
    ticks = [0]
    async def probe():              # runs whenever the event loop is free
        while True:
            ticks[0] += 1
            await asyncio.sleep_ms(10)
    asyncio.create_task(probe())
    out["broker"] = await r.resolve("broker.test")
    out["again"] = await r.resolve("broker.test")          # the cache: no second query
    out["literal"] = await r.resolve("10.1.2.3")
    out["missing"] = await r.resolve("nowhere.test")
    out["missing_error"] = r.last_error
    timeout_socket.resolver = r
    timeout_socket.getaddrinfo("broker.test", 1883)    # umqtt's connect, via timeout_socket
    out["umqtt_lookup"] = timeout_socket._so.looked_up[:]
    try:
        timeout_socket.getaddrinfo("unresolved.test", 1883)
        out["unresolved"] = "looked up"
    except OSError as e:
        out["unresolved"] = str(e)
    c = Clock(Board(), Net(), r, Events(), "time.test", 80)
    await clock_once(c)
    out["ntp_ok"], out["ntp_t"] = c.ntp_ok, getattr(c.board, "t", None)
    out["fails"], out["lookups"] = r.fails, r.lookups

    # a silent DNS server: the lookup fails, counted, while the loop runs on
    r2 = Resolver(Net())
    r2.port = int(sys.argv[2])
    n0 = ticks[0]
    out["silent"] = await r2.resolve("broker.test")
    out["silent_ticks"] = ticks[0] - n0
    out["silent_fails"], out["silent_error"] = r2.fails, r2.last_error
    c2 = Clock(Board(), Net(), r2, Events(), "time.test", 80)
    await clock_once(c2)
    out["ntp2_fails"], out["ntp2_error"] = c2.ntp_fails, c2.last_error
    s = M()
    s.dns, s.client = r2, ("id", "broker.test", 1883)
    try:
        await Sync._connect(s)
        out["sync"] = "connected"
    except OSError as e:
        out["sync"] = str(e)
    import ntptime
    out["ntptime_names"] = ntptime.names_refused
    out["sock_log"] = mod.log_to((port, int(sys.argv[2])))
    out["looked_up"] = mod.looked_up + timeout_socket._so.looked_up
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.fixture
def servers():
    t0 = 1_800_000_000
    ntpd = Ntpd(lambda: t0)
    dnsd = Dnsd({"broker.test": "127.0.0.1", "time.test": "127.0.0.1"})
    silent = Dnsd({"broker.test": "127.0.0.1"}, silent=True)
    for s in (ntpd, dnsd, silent):
        s.start()
    yield ntpd, dnsd, silent, t0
    for s in (ntpd, dnsd, silent):
        s.stop()


def test_names_resolve_without_blocking_and_feed_ntp_and_the_broker(servers, tmp_path):
    ntpd, dnsd, silent, t0 = servers
    script = tmp_path / "resolve_check.py"
    script.write_text(SCRIPT)
    r = upy.run_json(script, dnsd.port, silent.port, NTP_PORT=ntpd.port)[-1]
    assert r["broker"] == r["again"] == "127.0.0.1" and r["literal"] == "10.1.2.3"
    assert r["missing"] is None and "rcode 3" in r["missing_error"]      # NXDOMAIN
    assert dnsd.queries == ["broker.test", "nowhere.test", "time.test"]  # once each, cached
    assert r["umqtt_lookup"] == ["127.0.0.1"]   # the port's getaddrinfo got the address
    assert "unresolved" in r["unresolved"]      # umqtt never gets to look a name up itself
    assert r["ntp_ok"] == 1 and r["ntp_t"] == t0 and ntpd.queries >= 1
    assert r["fails"] == 1 and r["lookups"] == 2
    # the silent server: each try asked again, then a counted failure, the loop never held
    assert r["silent"] is None and r["silent_fails"] == 1 and "no answer" in r["silent_error"]
    assert silent.queries.count("broker.test") == 3 + 3      # the resolver's and the clock's
    assert r["silent_ticks"] > 0
    assert r["ntp2_fails"] == 1 and "no answer" in r["ntp2_error"]
    assert "no answer" in r["sync"]             # sync's connect fails before any socket
    # the construction: every resolver socket is non-blocking before it is used, no timeout
    log = r["sock_log"]
    assert "timeout" not in log and "blocking" not in log
    starts = [i for i, x in enumerate(log) if x == "nonblocking"]
    assert starts and all(log[i + 1] == "sendto" for i in starts)
    assert log[0] == "nonblocking"
    # and no getaddrinfo on the firmware's path was given a name
    assert all(h.replace(".", "").isdigit() for h in r["looked_up"]) and r["looked_up"]
    assert r["ntptime_names"] == 0
