"""Drive headless Chromium through the DevTools protocol over --remote-debugging-pipe.

The pipe transport (fd 3: commands in, fd 4: replies out, NUL-separated JSON) needs no
websocket client and no network port. One Browser per test module; one Tab per page.
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

from waits import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--remote-debugging-pipe"]


class CdpError(Exception):
    pass


class Browser:
    def __init__(self, flags=()):
        """flags: extra command-line switches, e.g. --host-resolver-rules to give a name
        the meter's address, as DNS rebinding would."""
        self.profile = tempfile.mkdtemp(prefix="cdp-profile-")
        cmd_r, cmd_w = os.pipe()   # we write commands -> chromium reads fd 3
        out_r, out_w = os.pipe()   # chromium writes fd 4 -> we read

        def fds():  # runs in the child before it closes all but pass_fds
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, *flags, "--user-data-dir=" + self.profile, "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._w = cmd_w
        self._r = out_r
        self._buf = b""
        self._id = 0
        self.events = []

    def _send(self, msg):
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._w, data)
            data = data[n:]

    def _recv(self, timeout):
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise CdpError("no reply from chromium within %.0f s" % timeout)
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise CdpError("chromium exited")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=30):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._send(msg)
        while True:
            m = self._recv(timeout)
            if m.get("id") == self._id:
                if "error" in m:
                    raise CdpError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def tab(self, width=390, height=844, javascript=True):
        tid = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.call("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        return Tab(self, sid, width, height, javascript)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (CdpError, OSError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


class Tab:
    def __init__(self, browser, session, width, height, javascript):
        self.b = browser
        self.s = session
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", {"value": True})

    def call(self, method, params=None, timeout=30):
        return self.b.call(method, params, self.s, timeout)

    def goto(self, url, timeout=20):
        self.b.events.clear()
        self.call("Page.navigate", {"url": url})
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == self.s
                   for e in self.b.events):
                return
            try:
                self.b.events.append(self.b._recv(max(0.05, end - time.monotonic())))
            except CdpError:
                break
        raise CdpError("page did not load: " + url)

    def js(self, expr, timeout=30):
        """Evaluate in the page (works with page scripts disabled too); await promises."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            raise CdpError("js failed: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def text(self, element_id):
        return self.js("(document.getElementById(%s)||{}).textContent" % json.dumps(element_id))

    def wait(self, expr, timeout=15, interval=0.1):
        """Poll a JS expression until truthy; return its value."""
        v = wait_until(lambda: self.js(expr), timeout, interval)
        if not v:
            raise CdpError("timed out waiting for: " + expr)
        return v

    def type_into(self, element_id, text):
        """Focus an input and type it key by key, as a person would."""
        self.js("document.getElementById(%s).focus()" % json.dumps(element_id))
        for ch in text:
            self.call("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, "key": ch})
            self.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch})

    def click(self, selector):
        """Click the centre of the element, through real input events."""
        box = self.js("(function(){var r=document.querySelector(%s).getBoundingClientRect();"
                      "return [r.left+r.width/2, r.top+r.height/2]})()" % json.dumps(selector))
        self.js("document.querySelector(%s).scrollIntoView({block:'center'})" % json.dumps(selector))
        box = self.js("(function(){var r=document.querySelector(%s).getBoundingClientRect();"
                      "return [r.left+r.width/2, r.top+r.height/2]})()" % json.dumps(selector))
        for t in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": t, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def screenshot(self, path, full=True):
        p = {"format": "png"}
        if full:
            p["captureBeyondViewport"] = True
            h = self.js("document.documentElement.scrollHeight")
            w = self.js("document.documentElement.clientWidth")
            p["clip"] = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
        data = self.call("Page.captureScreenshot", p)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
