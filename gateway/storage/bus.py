"""The listener bus: who hears of what was written, after the commit (the live stream,
the outbox, Home Assistant discovery)."""


class Bus:
    def __init__(self):
        self._listeners = []

    def listen(self, fn):
        """fn(kind, meter_id, data) after each commit: kind records|events|live|status|dead."""
        self._listeners.append(fn)

    def notify(self, notes):
        for n in notes:
            for fn in self._listeners:
                try:
                    fn(*n)
                except Exception:  # a listener must never break ingest
                    pass
