# Boot the meter (device/meter.py) and run its web task (device/web/server.py) on a heap
# that cannot hold the page: prints the live heap after boot and after the failed attempt
# as one JSON line.
import asyncio
import gc
import json
from board import Board
import meter


def live():
    gc.collect()
    return gc.mem_alloc()


async def main():
    m = meter.boot(Board())
    boot = live()
    from web.server import serve
    asyncio.create_task(serve(m))
    await asyncio.sleep_ms(500)
    off = [e for e in m.events.recent() if e["kind"] == "web_off"]
    print(json.dumps({"boot": boot, "after": live(), "free": gc.mem_free(), "web_off": off}))


asyncio.run(main())
