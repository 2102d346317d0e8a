# Hardened HTTP front for microdot on a microcontroller. microdot's own request reader
# uses an unbounded readline and has no deadline, so one client could exhaust the heap or
# hold a socket forever. Here every request head is read with bounded reads into at most
# _MAX_HEAD bytes, bodies are capped, the whole read has a deadline, concurrent connections
# are capped, and path tricks are refused. A read request then passes the guard (web.guard:
# Host allowlist, same-origin POSTs) before any handler sees it. Bad input gets a 4xx and
# the socket closes; nothing here blocks the event loop. Every response gets the security
# headers (SAFE). Routing, handlers and responses stay microdot's.
import asyncio
import gc
import time
from micropython import const

from microdot import Microdot, Request, Response
from microdot.microdot import NoCaseDict

_MAX_HEAD = const(2048)     # request line + headers, bytes
_CHUNK = const(512)         # read size: small blocks still fit in a fragmented heap
_MAX_HEADERS = const(24)
_MAX_URL = const(256)
MAX_BODY = const(1024)      # the largest body any route accepts (settings JSON)
_READ_MS = const(4000)      # deadline for a whole request head + body
_IDLE_MS = const(250)       # a head read idle this long yields its socket to a waiting client
_QUEUE_MS = const(1500)     # how long a new client waits for a free slot before 503
_WRITE_MS = const(10000)    # deadline for writing a response
_DRAIN_MS = const(300)      # lingering close: how long to wait for the rest of a refused request
_DRAIN_MAX = const(4096)    # and how much of it to read and discard
MAX_CONN = const(6)         # an ESP32 has ~10 lwIP sockets; MQTT needs one

Request.max_content_length = MAX_BODY
Request.max_body_length = MAX_BODY
Request.max_readline = _MAX_HEAD

# On every response, assets and errors included: no other site may frame the meter's pages
# (clickjacking the top-up or emergency buttons), and they load nothing from anywhere else.
# The pages have no inline script or style, so default-src 'self' costs them nothing. The
# names are lower case (header names are case-insensitive): microdot's NoCaseDict then
# keeps no lower-cased copy of each name per response, about 200 bytes less live heap.
SAFE = (("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"),
        ("content-security-policy", "default-src 'self'; frame-ancestors 'none'; "
         "form-action 'self'; base-uri 'none'"))
_BUSY = ("HTTP/1.0 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
         + "".join("%s: %s\r\n" % kv for kv in SAFE) + "\r\n").encode()


class Bad(Exception):
    def __init__(self, status, reason, unread=False):
        self.status = status
        self.reason = reason
        self.unread = unread    # the client is still sending: drain it before closing


def _path_ok(path):
    """Only plain absolute paths: no dot-segments, encoded slashes/dots, NULs or controls."""
    if not path or path[0] != "/" or "//" in path or "\\" in path or ".." in path:
        return False
    low = path.lower()
    if "%2e" in low or "%2f" in low or "%5c" in low or "%00" in low:
        return False
    for c in path:
        if c < " " or c == "\x7f":
            return False
    return True


def mime(req):
    """The media type of a request body, without parameters: "application/json"."""
    return req.headers.get("Content-Type", "").split(";")[0].strip()


def error(status, reason):
    return Response({"error": reason}, status, {"Cache-Control": "no-store"})


class Server(Microdot):
    def __init__(self, guard=None):
        super().__init__()
        self.guard = guard      # web.guard.Guard: Host and same-origin checks, before handlers
        self.active = 0         # connections being served now
        self.waiting = 0        # new connections waiting for a slot
        self.requests = 0
        self.rejected = 0       # 4xx from bad input, timeouts included
        self.timeouts = 0
        self.busy = 0           # refused with 503 because MAX_CONN were open
        self.worst_ms = 0       # slowest request, from fully read to last byte written
        self.heap_hw = 0        # live heap high-water, sampled after each dispatch
        # One streamed body (the page, a chart, an asset file) is written at a time: each
        # makes ~1.2 KB blocks as it writes (a joined chunk, then its encoding), and four at
        # once found no such block in a fragmented 100k heap (32-bit port, under load).
        self.stream_gate = asyncio.Lock()

    async def _head(self, reader):
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                return buf[:end], buf[end + 4:]
            if len(buf) >= _MAX_HEAD:
                raise Bad(431, "request head too large", True)
            try:
                chunk = await asyncio.wait_for_ms(reader.read(min(_CHUNK, _MAX_HEAD - len(buf))),
                                                _IDLE_MS)
            except asyncio.TimeoutError:
                # a client that dawdles over its request head loses its socket as soon as
                # someone else is waiting for one (slowloris); otherwise the deadline rules
                if self.waiting:
                    raise asyncio.TimeoutError
                continue
            if not chunk:
                raise Bad(400, "incomplete request")
            buf += chunk

    async def _read(self, reader, writer):
        head, body = await self._head(reader)
        try:
            lines = head.decode().split("\r\n")
        except UnicodeError:
            raise Bad(400, "request head is not UTF-8")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise Bad(400, "bad request line")
        method, url, ver = parts
        if method not in ("GET", "HEAD", "POST"):
            raise Bad(405, "method not allowed")
        if len(url) > _MAX_URL:
            raise Bad(414, "URL too long")
        if not _path_ok(url.split("?", 1)[0]):
            raise Bad(400, "bad path")
        if len(lines) - 1 > _MAX_HEADERS:
            raise Bad(431, "too many headers")
        headers = NoCaseDict()
        for ln in lines[1:]:
            k, sep, v = ln.partition(":")
            if not sep or not k or k[-1] == " ":
                raise Bad(400, "bad header line")
            headers[k] = v.strip()
        if "Transfer-Encoding" in headers:
            raise Bad(411, "chunked bodies not accepted; send Content-Length", True)
        n = headers.get("Content-Length", "0")
        if not n.isdigit():
            raise Bad(400, "bad Content-Length")
        n = int(n)
        if n > MAX_BODY:
            raise Bad(413, "body too large (max %d bytes)" % MAX_BODY, True)
        if len(body) > n:
            body = body[:n]
        elif len(body) < n:
            body += await reader.readexactly(n - len(body))
        try:
            req = Request(self, writer.get_extra_info("peername"), method, url,
                          ver[5:], headers, body=body, sock=(reader, writer))
        except (ValueError, IndexError):  # malformed query string or cookie
            raise Bad(400, "bad query string or cookie")
        if self.guard:
            self.guard.check(req)  # raises Bad: a foreign Host, a cross-site POST
        return req

    async def handle_request(self, reader, writer):
        if self.active >= MAX_CONN:
            self.waiting += 1
            for _ in range(_QUEUE_MS // 50):
                await asyncio.sleep_ms(50)
                if self.active < MAX_CONN:
                    break
            self.waiting -= 1
        if self.active >= MAX_CONN:
            self.busy += 1
            try:
                await asyncio.wait_for_ms(writer.awrite(_BUSY), 1000)
            except Exception:  # noqa: a refused client's socket errors are not ours
                pass
            await self._close(writer)
            return
        self.active += 1
        self.requests += 1
        t0 = None
        res = None
        unread = False
        try:
            try:
                req = await asyncio.wait_for_ms(self._read(reader, writer), _READ_MS)
            except Bad as e:
                res = error(e.status, e.reason)
                unread = e.unread
            except asyncio.TimeoutError:
                self.timeouts += 1
                res = error(408, "request not received in time")
            except OSError:
                res = None  # client went away
            except (ValueError, EOFError):
                res = error(400, "incomplete body")
            else:
                t0 = time.ticks_ms()  # time the meter's work, not a slow client's upload
                res = await self.dispatch_request(req)
            if res is not None and res is not Response.already_handled:
                if res.status_code >= 400:
                    self.rejected += 1
                for k, v in SAFE:
                    res.headers[k] = v
                gc.collect()  # keeps the heap unfragmented between requests
                hw = gc.mem_alloc()
                if hw > self.heap_hw:
                    self.heap_hw = hw
                if isinstance(res.body, bytes):  # made whole already; no gate
                    await asyncio.wait_for_ms(res.write(writer), _WRITE_MS)
                else:
                    async with self.stream_gate:
                        await asyncio.wait_for_ms(res.write(writer), _WRITE_MS)
            if unread:
                await self._drain(reader)
        except Exception as e:  # noqa: a failing client never takes the server down
            if not isinstance(e, (OSError, asyncio.TimeoutError)):
                print("web:", repr(e))
        finally:
            await self._close(writer)
            self.active -= 1
            if t0 is not None:
                ms = time.ticks_diff(time.ticks_ms(), t0)
                if ms > self.worst_ms:
                    self.worst_ms = ms

    @staticmethod
    async def _drain(reader):
        """Read and drop what a refused client still sends, within bounds. Closing a socket
        with input unread sends a TCP reset, and the client's stack may then discard the
        answer it had not read yet: the consumer would see "connection reset", not the 431."""
        n = 0
        try:
            while n < _DRAIN_MAX:
                chunk = await asyncio.wait_for_ms(reader.read(_CHUNK), _DRAIN_MS)
                if not chunk:
                    return
                n += len(chunk)
        except Exception:  # noqa: a timeout or a reset ends the drain; we close regardless
            pass

    @staticmethod
    async def _close(writer):
        try:
            await writer.aclose()
        except Exception:  # noqa: already closed by the peer
            pass

    def counters(self):
        c = {"requests": self.requests, "rejected": self.rejected, "timeouts": self.timeouts,
             "busy": self.busy, "active": self.active, "worst_ms": self.worst_ms,
             "heap_hw": self.heap_hw}
        if self.guard:
            c["misdirected"] = self.guard.misdirected
            c["cross_site"] = self.guard.cross_site
        return c
