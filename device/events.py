# Meter events (relay changes with reason, top-ups, power-limit trips, anomalies, gaps...).
# A bounded ring keeps the recent ones for the web page and for sync, which reads them by
# number (get) while they are unsent; sinks get each one as it happens. Kinds are
# documented in docs/protocol.md (tests check that).
RING = 32   # >= sync's unsent-event bound (sync/mqtt.py _EV_MAX)


class Events:
    def __init__(self, board, size=RING):
        self._board = board
        self._ring = [None] * size
        self.n = 0  # total emitted; event number i is at ring index i % size while held
        self._sinks = []

    def add_sink(self, fn):
        self._sinks.append(fn)

    def emit(self, kind, **data):
        ev = {"t": self._board.time(), "kind": kind}
        ev.update(data)
        self._ring[self.n % len(self._ring)] = ev
        self.n += 1
        for fn in self._sinks:
            fn(ev)
        return ev

    def get(self, i):
        """Event number i (0-based, counted since boot), None once the ring dropped it."""
        size = len(self._ring)
        return self._ring[i % size] if self.n - size <= i < self.n else None

    def recent(self, n=None):
        """Newest first."""
        size = len(self._ring)
        return [self.get(self.n - 1 - k) for k in range(min(n or size, size, self.n))]
