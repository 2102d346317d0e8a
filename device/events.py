# Meter events (relay changes with reason, top-ups, power-limit trips, anomalies, gaps...).
# A bounded ring keeps the recent ones for the web page; sinks (sync) get each one as it
# happens. Kinds are documented in docs/protocol.md (tests check that).
RING = 32


class Events:
    def __init__(self, board, size=RING):
        self._board = board
        self._ring = [None] * size
        self._n = 0  # total emitted (the ring index is _n % size)
        self._sinks = []
        self.dropped = 0

    def add_sink(self, fn):
        self._sinks.append(fn)

    def emit(self, kind, **data):
        ev = {"t": self._board.time(), "kind": kind}
        ev.update(data)
        self._ring[self._n % len(self._ring)] = ev
        self._n += 1
        for fn in self._sinks:
            fn(ev)
        return ev

    def recent(self, n=None):
        """Newest first."""
        size = len(self._ring)
        n = min(n or size, size, self._n)
        return [self._ring[(self._n - 1 - k) % size] for k in range(n)]
