"""The 100 ms bound's construction in device/sync/timeout_socket.py, under micropython: over
a stand-in plain socket that hangs every operation for as long as its timeout allows (a hung
broker), every operation umqtt can reach - connect, write, read, polls - first gets a timeout of at
most what is left of the turn's budget (mqtt.timeout_ms), never blocking without one; once
the budget is spent the next operation fails at once without touching the socket; and a new
turn opens a new budget. The waits of one turn add up to at most the budget, whatever the
number of operations in it. (tests/device/test_sync.py checks the same on a real broker.)"""
import json

import upy

SCRIPT = """
import json, time
from sync import timeout_socket

class Hung:                       # a plain socket whose peer never answers
    def __init__(self):
        self.t = None             # the timeout set: None blocks forever, 0 never blocks
        self.waits = []
    def settimeout(self, t):
        self.t = t
    def setblocking(self, flag):
        self.t = None if flag else 0
    def setsockopt(self, *a):
        pass
    def _hang(self):
        assert self.t is not None, "a blocking operation without a timeout"
        if self.t == 0:
            raise OSError(11)     # EAGAIN: non-blocking, nothing there
        ms = int(self.t * 1000)
        self.waits.append(ms)
        time.sleep_ms(ms)
        raise OSError(110)
    def connect(self, addr):
        self._hang()
    def read(self, n):
        self._hang()
    def write(self, b):
        self._hang()
    def close(self):
        pass

out = {}
timeout_socket.timeout_s = 0.08
raw = Hung()
s = timeout_socket.TimeoutSocket(raw)
out["before_turn"] = raw.t
fails = 0
timeout_socket.turn()
for op in (lambda: s.connect(("127.0.0.1", 1)), lambda: s.write(b"\\x10"),
           lambda: s.read(1), lambda: s.read(4), lambda: s.write(b"x")):
    try:
        op()
    except OSError:
        fails += 1
out["turn1_waits"] = raw.waits
out["turn1_fails"] = fails
raw.waits = []
timeout_socket.turn()                      # after an await: a new budget
s.setblocking(False)              # check_msg's poll: never blocks
s.nb = True
raw.t = 0
try:
    s.read(1)
except OSError:
    pass
s.setblocking(True)
for _ in range(3):
    try:
        s.read(1)
    except OSError:
        pass
out["turn2_waits"] = raw.waits
out["max_wait_ms"] = timeout_socket.max_wait_ms
print(json.dumps(out))
"""


def test_every_socket_operation_waits_within_the_turns_budget(tmp_path):
    script = tmp_path / "bound.py"
    script.write_text(SCRIPT)
    out = [ln for ln in upy.run(script).splitlines() if ln.startswith("{")]
    r = json.loads(out[-1])
    assert r["before_turn"] == 0                 # a new socket never blocks by itself
    assert r["turn1_fails"] == 5                 # each op failed (the broker is hung) ...
    w1 = r["turn1_waits"]
    assert 1 <= len(w1) <= 2 and sum(w1) <= 80   # ... and only the first waited: the rest
    assert w1[0] > 0                             # found the budget spent, touching nothing
    w2 = r["turn2_waits"]
    assert w2 and w2[0] > 0 and sum(w2) <= 80    # a new turn, a new budget (the poll waits not)
    assert 0 < r["max_wait_ms"] <= 80
