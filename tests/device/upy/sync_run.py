# Journal + MQTT sync under MicroPython without the credit and front-end parts: a constant
# 1 kW reading is integrated each window and the real Journal and Sync run against a real
# broker. sync_run.py <real seconds> [<events> [witness]]; prints {"journal": ..., "sync": ...}
# at the end. With <events>, that many `anomaly` events (detail = 0, 1, ...) and then one whose
# data is not a scalar are emitted right after boot (the test keeps the network down
# meanwhile). With `witness`, every socket timeout is checked against its turn's budget
# (bound_witness.py) and the result printed as "bound".
# (The full firmware, device/main.py, is what the e2e tests run; this isolates sync.)
import asyncio
import json
import sys

from board import Board
from lazy import forget
from events import Events
from measure.energy import Energy
from measure.reading import Reading, OK
from journal.journal import Journal
from sync.setup import from_config
from remote import Remote
from net import Net
from clock import Clock
from dns import Resolver


class CreditStandIn:
    relay_closed = True

    def balance(self):
        return 5000

    def flags(self):
        return 0

    def token_state(self):
        return [0, 1]


class DecisionStandIn:
    closed = True
    flags = 0
    net = 5000


class M:
    def __init__(self):
        self.board = b = Board()
        import config
        self.cfg, self.errors = config.load(b.root)
        assert not self.errors, self.errors
        config.unload()                                         # boot-only, as in Meter
        config = None
        forget("prepay.tariff")
        self.events = Events(b)
        self.energy = Energy()
        self.reading = r = Reading()
        r.v, r.i, r.p, r.s, r.pf, r.hz, r.status = 230.0, 4.35, 1000.0, 1000.0, 1.0, 50.0, OK
        self.credit = CreditStandIn()
        self.quality = None     # Meter's power-quality stage: made by its metering task
        self.decision = DecisionStandIn()
        self.missed = 0
        self.journal = Journal(self.cfg, b, self.events)
        self.net = Net(b, self.cfg["wifi.ssid"], self.cfg["wifi.password"])
        self.dns = Resolver(self.net)
        self.clock = Clock(b, self.net, self.dns, self.events, self.cfg["ntp.host"],
                           self.cfg["ntp.timeout_ms"])
        self.sync = from_config(self.cfg, b, self.net, self.dns, self.journal, self.events,
                         Remote(b, self.credit, self.clock, self.events, self.journal),
                         self.telemetry, self.describe)
        self.events.emit("boot", fw="0.1.0", boot=self.journal.boots, reset="power-on",
                         stalled="")

    def telemetry(self, d):
        r = self.reading
        d.update(t=self.board.time(), wh=self.energy.wh, p=r.p, v=r.v, i=r.i, pf=r.pf, hz=r.hz,
                 status=r.status, relay=self.board.relay_closed(), missed=self.missed,
                 errors=0, net=self.net.state(), net_tries=self.net.attempts,
                 net_drops=self.net.drops, clock=self.clock.source, credit=5000, flags=0,
                 tok=[0, 1])

    def describe(self, d):
        import board as bmod
        d.update(fw="0.1.0", board=bmod.NAME, source=self.cfg["measure.source"] or bmod.SOURCE,
                 errors=0, tok=[0, 1])

    async def metering(self):
        b = self.board
        w = self.cfg["measure.window_ms"]
        prev = b.ticks_ms()
        while True:
            await b.sleep_ms(w)
            now = b.ticks_ms()
            dt = b.ticks_diff(now, prev)
            prev = now
            self.energy.add_power(self.reading.p, dt)
            self.journal.append(b.time(), self.reading, dt, self.energy.wh, self.decision,
                                self.energy.anomalies)


async def main(secs, events, witness):
    if witness:
        import bound_witness
        bound_witness.install()
    m = M()
    for i in range(events):
        m.events.emit("anomaly", what="test", detail=i)
    if events:
        m.events.emit("anomaly", what="bad", detail=[1, 2])
    asyncio.create_task(m.metering())
    asyncio.create_task(m.net.run())
    asyncio.create_task(m.clock.run())
    asyncio.create_task(m.sync.run())
    await asyncio.sleep(secs)
    out = {"journal": m.journal.stats(), "sync": m.sync.stats()}
    if witness:
        out["bound"] = bound_witness.stats
    print(json.dumps(out))


asyncio.run(main(float(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0,
                 sys.argv[3:4] == ["witness"]))
