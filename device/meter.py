# The meter core: data flows one way (docs/architecture.md). The metering task hands each
# stage what it needs and the next stage what it returns:
#     reading -> energy.add -> credit.step -> decision -> relay, journal.append, history.add
# and sync is given the journal, the events and a command handler (device/remote.py).
# Each concern runs as one asyncio task; Meter holds the parts and the task handles.
import asyncio
import gc

from lazy import forget

VERSION = "0.1.0"


def boot(board):
    """The meter on `board`, its stages built from config.json by meter_setup.py: boot-only
    code, loaded for this and dropped (2.6 KB of the loose bundle's 32-bit heap,
    tests/bench/bench_forget_sites.py: the loose soak at 120k needs it,
    tests/e2e/test_esp32_heap.py)."""
    import meter_setup
    m = Meter(**meter_setup.stages(board))
    meter_setup.finish(m, VERSION)
    meter_setup = None
    forget("meter_setup")
    return m


class Meter:
    def __init__(self, board, events, cfg, errors, fallback, reset_cause, stalled, reading,
                 energy, src, credit, net, dns, clock, journal, history):
        """`cfg`: the settings (config.json or its last known good copy), `errors` its
        errors (any: the config-error state, no metering, relay open), `fallback` the
        errors of a config.json replaced by that copy; `reset_cause`, `stalled`: why this
        boot happened, the task that starved the watchdog; the stages (None where the
        config has none): src the front-end's driver, then energy, credit, journal and the
        page's history; net, dns and clock when a network is configured."""
        self.board = board
        self.events = events    # the event ring every stage emits into
        self.cfg = cfg
        self.errors = errors
        self.fallback = fallback
        self.reset_cause = reset_cause
        self.stalled = stalled
        self.reading = reading  # the one Reading the driver fills in place
        self.energy = energy
        self.src = src
        self.credit = credit
        self.net = net
        self.dns = dns
        self.clock = clock
        self.journal = journal
        self.history = history
        self.sync = None        # meter_setup.finish: Sync calls back telemetry and describe
        self.quality = None     # the metering task's, made after boot's peaks are over
        self.web = None         # the page's server once it runs (web/server.py)
        self.windows = 0        # metering windows completed
        self.missed = 0         # windows that overran their slot (measured, reported)
        self.tasks = {}

    async def metering(self):
        b = self.board
        src, energy, credit = self.src, self.energy, self.credit
        journal, history = self.journal, self.history
        reading = self.reading          # the driver fills it in place: nothing allocated
        window = self.cfg["measure.window_ms"]
        prev = b.ticks_ms()
        anomalies = energy.anomalies
        from measure.quality import Quality     # made here, after boot's peaks are over
        q = self.quality = Quality(self.cfg)    # power-quality limits on each reading
        while True:
            start = b.ticks_ms()
            await src.read(reading)
            now = b.ticks_ms()
            dt = b.ticks_diff(now, prev)
            prev = now
            energy.add(reading, dt)
            if energy.anomalies != anomalies:
                anomalies = energy.anomalies
                kind, detail = energy.last_anomaly
                self.events.emit("anomaly", what=kind, detail=detail)
            utc = b.time()
            ended = q.step(reading, dt, utc)        # a mask: 0 unless a condition ended
            if ended:
                q.emit(ended, self.events)
            decision = credit.step(utc, dt, energy.wh, reading)   # pre-debit, charges, policy
            if decision.rebase:         # the first fresh reading after a power loss settled it
                energy.rebase(decision.rebase)
            b.relay(decision.closed)
            journal.append(utc, reading, dt, energy.wh, decision, anomalies)
            if history:
                history.add(utc, energy.wh, b.rtc_valid())
            self.windows += 1
            left = window - b.ticks_diff(b.ticks_ms(), start)
            if left < 0:
                self.missed += 1
            await b.sleep_ms(left if left > 0 else 0)

    def telemetry(self, d):
        """Add the meter's fields to a tele payload (docs/protocol.md): sync adds its own."""
        b = self.board
        r = self.reading
        d["t"] = b.time()
        d["wh"] = self.energy.wh
        rd = r.as_dict()   # display precision (Reading.as_dict): no 226.4709409671993 V
        d["p"], d["v"], d["i"], d["pf"], d["hz"] = rd["p"], rd["v"], rd["i"], rd["pf"], rd["hz"]
        d["status"] = r.status
        d["relay"] = b.relay_closed()
        d["missed"] = self.missed
        d["errors"] = len(self.errors)
        d["net"] = self.net.state()
        d["net_tries"] = self.net.attempts
        d["net_drops"] = self.net.drops
        d["clock"] = self.clock.source
        if self.quality:                        # none in a config-error state
            d["pq"] = self.quality.counts()
        cr = self.credit
        d["credit"] = cr.balance() if cr else 0   # no credit in a config-error state
        if cr:
            d["flags"] = cr.flags()
            d["tok"] = cr.token_state()
            d["days_h"] = cr.days.used_h        # hours of use the days left are from
            if cr.days_left is not None:
                d["days_left"] = cr.days_left

    def describe(self, d):
        """Add the meter's fields to the info payload sent on each connection."""
        import board as bmod
        d["fw"] = VERSION
        d["board"] = bmod.NAME
        d["source"] = self.cfg["measure.source"] or bmod.SOURCE
        d["errors"] = len(self.errors)
        if self.credit:
            d["tok"] = self.credit.token_state()

    def status(self):
        """Counters every failure path exposes (web page, telemetry)."""
        st = {"version": VERSION, "windows": self.windows, "missed": self.missed,
              "anomalies": self.energy.anomalies, "config_errors": self.errors,
              "config_fallback": self.fallback}
        if self.src:
            st["source"] = self.src.counters()
        if self.quality:
            st["pq"] = self.quality.counts()    # power-quality events started today
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
        if self.net:
            self.tasks["net"] = asyncio.create_task(self._guard("net", self.net.run))
            self.tasks["clock"] = asyncio.create_task(self._guard("clock", self.clock.run))
        ms = self.cfg["wdt.timeout_s"] * 1000
        dog = self.board.wdt(ms) if ms else None    # None: a board without one (unix port)
        if dog:
            from watchdog import Watchdog
            self.tasks["watchdog"] = asyncio.create_task(Watchdog(self, dog, ms).run())
        if self.sync:       # also in a config-error state: the utility can repair it
            self.tasks["sync"] = asyncio.create_task(self._guard("sync", self.sync.run))
        if self.cfg["web.port"]:
            from web.server import serve
            self.tasks["web"] = asyncio.create_task(self._guard("web", lambda: serve(self)))
        while True:
            await asyncio.sleep(3600)
