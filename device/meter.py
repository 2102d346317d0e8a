# The meter core: data flows one way, board -> measure -> credit -> journal -> sync.
# Each concern runs as one asyncio task; Meter holds the parts and the task handles.
# Subsystems receive the Meter and read what they need from it (m.reading, m.credit...).
import asyncio
import gc

from events import Events
from lazy import forget
from measure.reading import Reading, OK
from measure.energy import Energy

VERSION = "0.1.0"


class Meter:
    def __init__(self, board):
        self.board = board
        import config
        self.cfg, self.errors = config.load(board.root)
        forget("config")        # boot-only: the settings table and validator are freed;
        forget("settings")      # config updates and the admin page import them again
        self.events = Events(board)
        self.reading = Reading()
        self.energy = Energy(self.cfg["measure.max_power_w"])
        self.windows = 0        # metering windows completed
        self.missed = 0         # windows that overran their slot (measured, reported)
        self.tasks = {}
        self.src = self.credit = self.journal = self.sync = None
        if self.errors:
            for e in self.errors:
                print("config error:", e)
            board.relay(False)  # safe state: no supply without a valid config
            return
        self.src = self._source()
        # Boot-only work (state restore and tariff parsing inside Credit, the journal scan)
        # runs while as little else is resident as possible, and each phase's leftovers are
        # collected before the next phase's code loads: on a 128k heap that is what decides
        # whether boot fits.
        from credit.core import Credit
        self.credit = Credit(self)          # restores energy + credit state from flash
        gc.collect()
        from journal.journal import Journal
        self.journal = Journal(self)
        gc.collect()
        if self.cfg["mqtt.host"]:
            from sync.mqtt import Sync
            self.sync = Sync(self)

    def _source(self):
        import board as bmod
        kind = self.cfg["measure.source"] or bmod.SOURCE
        c = self.cfg
        if kind == "pzem":
            from measure.pzem import Pzem
            return Pzem(self.board.uart(c["pzem.uart"] or None, c["pzem.timeout_ms"]),
                        self.board, c["pzem.address"], c["pzem.timeout_ms"], c["measure.stale_after"])
        from measure.analog import Analog
        cal = dict(bmod.CAL)
        for k in ("vcal", "ical", "phasecal", "icreep"):
            if c["analog." + k]:
                cal[k] = c["analog." + k]
        return Analog(self.board.adc(), cal, bmod.SAMPLE_RATE, c["analog.cycles"],
                      c["measure.stale_after"])

    async def metering(self):
        b = self.board
        window = self.cfg["measure.window_ms"]
        prev = fresh = b.ticks_ms()
        anomalies = self.energy.anomalies
        while True:
            start = b.ticks_ms()
            await self.src.read(self.reading)
            now = b.ticks_ms()
            dt = b.ticks_diff(now, prev)
            prev = now
            r = self.reading
            if r.status == OK and r.fails == 0:   # fresh (status stays OK for a few failures)
                if r.register_wh >= 0:
                    # the PZEM kept counting through failed reads: its delta spans the time
                    # since the last fresh read, so bound the jump check by that, not one window
                    self.energy.add_register(r.register_wh, b.ticks_diff(now, fresh))
                else:
                    self.energy.add_power(r.p, dt)
                fresh = now
            if self.energy.anomalies != anomalies:
                anomalies = self.energy.anomalies
                kind, detail = self.energy.last_anomaly
                self.events.emit("anomaly", what=kind, detail=detail)
            utc = b.time()
            self.credit.update(utc, dt)             # pre-debit, standing charge, policy
            b.relay(self.credit.relay_closed)
            self.journal.window(utc, r, dt)         # closes interval records when due
            self.windows += 1
            left = window - b.ticks_diff(b.ticks_ms(), start)
            if left < 0:
                self.missed += 1
            await b.sleep_ms(left if left > 0 else 0)

    def status(self):
        """Counters every failure path exposes (web page, telemetry)."""
        st = {"version": VERSION, "windows": self.windows, "missed": self.missed,
              "anomalies": self.energy.anomalies, "config_errors": self.errors}
        if self.src:
            st["source"] = self.src.counters()
        return st

    async def _guard(self, name, fn):
        """Run one concern forever: a crash is logged as an event and the task restarts."""
        while True:
            try:
                await fn()
                return
            except Exception as e:  # noqa: a task must never take the meter down
                print("task", name, "failed:", repr(e))
                self.events.emit("task_restart", task=name, error=repr(e)[:80])
                await self.board.sleep_ms(1000)

    async def run(self):
        gc.collect()
        if not self.errors:
            self.tasks["metering"] = asyncio.create_task(self._guard("metering", self.metering))
            if self.sync:
                self.tasks["sync"] = asyncio.create_task(self._guard("sync", self.sync.run))
        if self.cfg["web.port"]:
            from web.server import serve
            self.tasks["web"] = asyncio.create_task(self._guard("web", lambda: serve(self)))
        while True:
            await asyncio.sleep(3600)
