"""Live stream: what the store commits (records, events, telemetry, status, dead letters) is
pushed to Server-Sent-Events clients. The store calls `publish` from its writer thread; each
client has a bounded queue in the event loop. A client too slow to keep up loses the oldest
messages, counted and announced to it (`event: dropped`), never the ingest's time."""
import asyncio
import json

from prepay.record import FIELDS

QUEUE = 1000


class Client:
    def __init__(self, meter=None, kinds=None):
        self.meter = meter
        self.kinds = kinds
        self.q = asyncio.Queue(QUEUE)
        self.dropped = 0


class Hub:
    def __init__(self, store):
        self.loop = None
        self.clients = set()
        self.sent = self.dropped = 0
        store.listen(self.publish)

    def bind(self, loop):
        self.loop = loop

    def publish(self, kind, meter, data):
        """Thread-safe: called after each commit."""
        if self.loop is None or not self.clients:
            return
        if kind == "records":
            data = [dict(zip(FIELDS, r)) for r in data]
        self.loop.call_soon_threadsafe(self._fan_out, kind, meter, data)

    def _fan_out(self, kind, meter, data):
        msg = None
        for c in self.clients:
            if (c.meter and c.meter != meter) or (c.kinds and kind not in c.kinds):
                continue
            if msg is None:
                msg = json.dumps({"meter": meter, "data": data})
            if c.q.full():
                c.q.get_nowait()
                c.dropped += 1
                self.dropped += 1
            c.q.put_nowait((kind, msg))

    async def stream(self, sse, client, heartbeat_s=15):
        self.clients.add(client)
        try:
            await sse.send({"meter": client.meter, "kinds": sorted(client.kinds or ())},
                           event="hello")
            reported = 0
            while True:
                try:
                    kind, msg = await asyncio.wait_for(client.q.get(), heartbeat_s)
                except asyncio.TimeoutError:
                    await sse.send("keepalive", comment=True)
                    continue
                if client.dropped != reported:
                    reported = client.dropped
                    await sse.send({"dropped": reported}, event="dropped")
                await sse.send(msg, event=kind)
                self.sent += 1
        finally:
            self.clients.discard(client)
