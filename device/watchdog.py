# The hardware watchdog (machine.WDT through the board), fed by this one task only while
# every essential task has made progress recently: metering (a window closed), sync and net
# (their loops went round) and web (its server task still runs; it waits in accept, which is
# progress). A task stuck in a blocking call stops the whole event loop, this task too, so
# the dog is not fed and the chip resets; a task stuck awaiting something that never comes
# stops its own progress, and the dog is starved on purpose. Before starving it, the stalled
# task's name is written to <root>/wdt_why, which the next boot reports (meter.py
# _boot_cause, sync's boot event).
# Real milliseconds: the watchdog counts real time.
import asyncio
import time

class Watchdog:
    def __init__(self, meter, dog, timeout_ms):
        self.m = meter
        self.ms = timeout_ms
        self.dog = dog          # the board's started WDT
        self.starved = ""       # the task that stopped making progress, if any
        self._seen = {}         # task name -> (its progress count, ticks_ms when it moved)
        self._round = 0         # checks so far: the web task's progress while it runs

    def _progress(self):
        """name -> a number that moves while the task makes progress."""
        m = self.m
        p = {"net": m.net.beats} if m.net else {}
        if "metering" in m.tasks:
            p["metering"] = m.windows
        if m.sync:
            p["sync"] = m.sync.beats
        t = m.tasks.get("web")
        if t is not None:
            p["web"] = -1 if t.done() else self._round
        return p

    def _stalled(self):
        self._round += 1
        now = time.ticks_ms()
        for name, n in self._progress().items():
            last = self._seen.get(name)
            if last is None or last[0] != n:
                self._seen[name] = (n, now)
            elif time.ticks_diff(now, last[1]) > self.ms // 2:
                return name
        return ""

    async def run(self):
        while True:
            name = self._stalled()
            if not name:
                self.dog.feed()
            elif name != self.starved:
                self.starved = name
                print("watchdog: %s made no progress for %d ms: not fed" % (name, self.ms // 2))
                try:
                    with open(self.m.board.root + "/wdt_why", "w") as f:
                        f.write(name)
                except OSError:
                    pass
            await asyncio.sleep_ms(self.ms // 8)
