# Journal + MQTT sync under MicroPython without the credit and front-end parts: a constant
# 1 kW reading is integrated each window and the real Journal and Sync run against a real
# broker. sync_run.py <real seconds> [<events>]; prints {"journal": ..., "sync": ...} at the
# end. With <events>, that many `anomaly` events (detail = 0, 1, ...) and then one whose data
# is not a scalar are emitted right after boot (the test keeps the network down meanwhile).
# (The full firmware, device/main.py, is what the e2e tests run; this isolates sync.)
import asyncio
import json
import sys

import config
from board import Board
from events import Events
from measure.energy import Energy
from measure.reading import Reading, OK
from journal.journal import Journal
from sync.mqtt import Sync


class CreditStandIn:
    relay_closed = True

    def balance(self):
        return 5000

    def net(self):
        return 5000

    def flags(self):
        return 0


class M:
    def __init__(self):
        self.board = b = Board()
        self.cfg, self.errors = config.load(b.root)
        assert not self.errors, self.errors
        self.events = Events(b)
        self.energy = Energy()
        self.reading = r = Reading()
        r.v, r.i, r.p, r.s, r.pf, r.hz, r.status = 230.0, 4.35, 1000.0, 1000.0, 1.0, 50.0, OK
        self.credit = CreditStandIn()
        self.missed = 0
        self.journal = Journal(self)
        self.sync = Sync(self)

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
            self.journal.window(b.time(), self.reading, dt)


async def main(secs, events):
    m = M()
    for i in range(events):
        m.events.emit("anomaly", what="test", detail=i)
    if events:
        m.events.emit("anomaly", what="bad", detail=[1, 2])
    asyncio.create_task(m.metering())
    asyncio.create_task(m.sync.run())
    await asyncio.sleep(secs)
    print(json.dumps({"journal": m.journal.stats(), "sync": m.sync.stats()}))


asyncio.run(main(float(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0))
