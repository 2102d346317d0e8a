# The meter's web server task. Imports stay inside serve(): if the web stack ever lacks
# memory or its port, the meter keeps metering and says so (an event, the console),
# instead of failing at boot or restart-looping the import every second.
import asyncio
import sys


async def serve(meter):
    """Run the web server forever (meter.run supervises this task)."""
    before = set(sys.modules)
    try:
        from web.app import build
        app = build(meter)
    except MemoryError as e:
        # What the attempt loaded would stay live for nothing: loose bundle, 32-bit port,
        # 100k, 9-21 KB more live without this (by where memory ran out), 3-5 KB with it
        # (its interned names stay). tests/device/test_memory.py
        from lazy import drop_since
        drop_since(before, e)
        del before
        print("web: not enough memory; page disabled")
        meter.events.emit("web_off", error="memory")
        while True:
            await asyncio.sleep(3600)
    meter.web = app  # counters (worst response time, heap high-water) for status and tests
    port = meter.cfg["web.port"]
    while True:
        try:
            await app.start_server(host="0.0.0.0", port=port)
        except OSError as e:  # port taken, no network yet: retry calmly
            print("web: cannot listen on port", port, repr(e))
            meter.events.emit("web_off", error=repr(e)[:40])
            await asyncio.sleep(30)
