# Cross-site defence (docs/web.md "Cross-site requests"). Any web site the consumer visits
# can make their browser send a form POST to the meter (activating emergency credit, or
# locking token entry with bad codes), and a DNS name rebound to the meter's address lets
# another site read and drive the page under its own name. httpd.Server runs check() on
# every fully read request, before any handler:
# - Host must name this meter: one of the board's addresses, its mDNS name or a web.hosts
#   entry (any port: a router may forward another). Else 421, counted in `misdirected`.
# - A POST must come from the meter's own page: its Origin, or its Referer when a browser
#   sent no Origin, names the same host and port as Host. With neither header (scripts,
#   old browsers) the body must be JSON, which no browser sends cross-site without a CORS
#   preflight (OPTIONS, which the meter refuses), or a form carrying this boot's token,
#   which the page embeds and another site cannot read. Else 403, counted in `cross_site`.
import binascii
import os

from web.httpd import Bad, mime

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"


def host_name(host):
    """The name in a lowercased Host value: "meter.local:8080" -> "meter.local"; Bad(400)
    for a malformed one (a bad or empty port, IPv6 literals: the meter serves IPv4)."""
    name, sep, port = host.partition(":")
    if sep and not (port.isdigit() and len(port) <= 5 and 0 < int(port) <= 65535):
        raise Bad(400, "bad Host header")
    if name[-1:] == ".":  # the fully qualified form of the same name
        name = name[:-1]
    if not name:
        raise Bad(400, "bad Host header")
    return name


def authority(url):
    """"http://meter.local:8080/x" -> "meter.local:8080"; None unless http(s)."""
    url = url.lower()
    for scheme in ("http://", "https://"):
        if url.startswith(scheme):
            return url[len(scheme):].split("/", 1)[0]
    return None


class Guard:
    def __init__(self, board, names):
        self._board = board
        self._names = names                 # the mDNS name and web.hosts, lowercase
        self._addrs = board.addresses()     # re-read when a Host misses (DHCP may move it)
        self.token = binascii.hexlify(os.urandom(8)).decode()  # per boot, in the page's forms
        self.misdirected = 0                # 421: a Host that is not this meter's
        self.cross_site = 0                 # 403: a POST not from this meter's own page

    def _ours(self, name):
        if name in self._names or name in self._addrs:
            return True
        self._addrs = self._board.addresses()
        return name in self._addrs

    def check(self, req):
        """Raise Bad unless req is addressed to this meter and, if it is a POST, comes from
        this meter's page (see the top of this file)."""
        host = req.headers.get("Host")
        if not host:
            raise Bad(400, "Host header required")
        host = host.lower()
        if not self._ours(host_name(host)):
            self.misdirected += 1
            raise Bad(421, "this meter does not answer to that host name")
        if req.method != "POST":  # GET and HEAD change nothing
            return
        src = req.headers.get("Origin")
        if src is None:
            src = req.headers.get("Referer")
        if src is not None:
            if authority(src) == host:
                return
            self.cross_site += 1
            raise Bad(403, "cross-site request refused: use the meter's own page")
        ct = mime(req)
        if ct == _JSON or (ct == _FORM and self._token_in(req)):
            return
        self.cross_site += 1
        raise Bad(403, "request refused: reload the meter's page and try again")

    def _token_in(self, req):
        try:
            f = req.form
        except (ValueError, UnicodeError):  # a malformed form body
            return False
        t = f.get("csrf") if f else None
        # a plain compare: the token lives for one boot and is 64 random bits; a cross-site
        # page learns nothing from response times it cannot tell from network jitter
        return t == self.token
