"""The simulated WiFi world of unix-port meters: the access point each meter's radio sees
(host_tools/esp32_standins/network.py reads it), and a loopback TCP proxy that is the
meter's only way to the broker and, for a page test, the only way to its web page.

    w = World(root, ssid="site", password="pw-12345")   # writes <root>/wifi.json
    link = Link().start()
    port = link.route(w, "127.0.0.1", broker_port)      # the meter's mqtt.port
    w.ap(False)            # the access point goes away: the station drops, and the proxy
                           # cuts every connection through it and refuses new ones
    link.stop()

The proxy passes traffic only while the access point is on AND the meter's station says
it is joined (<root>/wlan.state, written by the stand-in), so a meter that has not joined,
or whose link dropped, really has no network: its sockets are reset, as when an ESP32
loses its AP. Run on the test's side, out of the meter's heap.
"""
import json
import os
import selectors
import socket
import threading
from pathlib import Path

JOIN_MS = 3000      # an ESP32 station takes ~2-4 s from connect() to an IP


class World:
    """One meter's radio surroundings."""

    def __init__(self, root, ssid="site-ap", password="site-pass-1", join_ms=JOIN_MS,
                 ap=True, dns="127.0.0.1"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state = {"ap": ap, "ssid": ssid, "password": password, "join_ms": join_ms,
                      "scan_ms": 2000, "ip": "127.0.0.1",
                      "dns": dns}   # the DNS server the network gives (WLAN.ifconfig()[3])
        self._write()

    def _write(self):
        # every write changes the file's size (true/false), so the stand-in, which can only
        # see mtime in whole seconds, notices two writes within one second
        self.state["flip"] = not self.state.get("flip")
        tmp = self.root / "wifi.json.tmp"
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.root / "wifi.json")

    def set(self, **kw):
        self.state.update(kw)
        self._write()

    def ap(self, on):
        self.set(ap=bool(on))

    def joined(self):
        try:
            return (self.root / "wlan.state").read_text() == "1"
        except OSError:
            return False

    def link_up(self):
        return self.state["ap"] and not (self.root / "netdown").exists() and self.joined()


class SetupAP:
    """A phone joined to the meter's own access point (the stand-in's soft-AP): its link is
    up while that AP is up with this name and the phone's password is the AP's (WPA2), or
    the AP is open. Route the meter's page through it (Link.route) to reach the page the
    way an owner setting the meter up does."""

    def __init__(self, root, essid, password):
        self.root = Path(root)
        self.essid = essid
        self.password = password

    def link_up(self):
        try:
            ap = json.loads((self.root / "wlan_ap.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(ap.get("active") and ap.get("essid") == self.essid
                    and (ap.get("authmode") == 0 or ap.get("password") == self.password))


class Link(threading.Thread):
    """Loopback TCP proxy: each route listens on its own port and forwards to a target
    while its world's link is up; when the link goes down every connection is closed."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sel = selectors.DefaultSelector()
        self.routes = []            # (listener, world, target)
        self.pairs = {}             # socket -> (peer socket, route index)
        self._halt = False
        self.cuts = 0               # connections cut or refused because the link was down
        self._lock = threading.Lock()

    def route(self, world, host, port):
        """A new loopback port forwarding to host:port while world.link_up() (a World, or a
        SetupAP for a phone on the meter's own access point)."""
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(64)
        ls.setblocking(False)
        with self._lock:
            self.routes.append((ls, world, (host, port)))
            self.sel.register(ls, selectors.EVENT_READ, ("listen", len(self.routes) - 1))
        return ls.getsockname()[1]

    def stop(self):
        self._halt = True
        self.join(2)
        for s in list(self.pairs):
            s.close()
        for ls, _, _ in self.routes:
            ls.close()

    def start(self):
        super().start()
        return self

    def _close(self, s):
        peer, _ = self.pairs.pop(s, (None, None))
        for x in (s, peer):
            if x is None:
                continue
            self.pairs.pop(x, None)
            try:
                self.sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def _accept(self, i):
        ls, world, target = self.routes[i]
        try:
            c, _ = ls.accept()
        except OSError:
            return
        if not world.link_up():
            self.cuts += 1
            c.close()
            return
        try:
            up = socket.create_connection(target, timeout=2)
        except OSError:
            c.close()
            return
        for s in (c, up):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pairs[c] = (up, i)
        self.pairs[up] = (c, i)
        self.sel.register(c, selectors.EVENT_READ, ("pipe", i))
        self.sel.register(up, selectors.EVENT_READ, ("pipe", i))

    def _pipe(self, s):
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        peer = self.pairs.get(s, (None,))[0]
        if not data or peer is None:
            self._close(s)
            return
        try:
            peer.setblocking(True)
            peer.settimeout(2)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._close(s)

    def run(self):
        while not self._halt:
            with self._lock:
                events = self.sel.select(0.05)
                for key, _ in events:
                    kind, i = key.data
                    if kind == "listen":
                        self._accept(i)
                    elif key.fileobj in self.pairs:
                        self._pipe(key.fileobj)
                down = {i for i, (_, w, _) in enumerate(self.routes) if not w.link_up()}
                if down:
                    for s, (_, i) in list(self.pairs.items()):
                        if i in down and s in self.pairs:
                            self.cuts += 1
                            self._close(s)
