# Run the real meter core (device/meter.py: source -> energy -> credit -> journal) for a
# number of meter-hours and sample the live heap after gc every meter-minute. Prints one
# JSON line. argv: hours [top-up token]
import sys
import gc
import json
import asyncio
from board import Board
from meter import boot


async def main(hours):
    b = Board()
    m = boot(b)
    if m.errors:
        print(json.dumps({"config_errors": m.errors}))
        return
    topup = m.credit.enter_token(sys.argv[2]) if len(sys.argv) > 2 else None
    runner = asyncio.create_task(m.run())
    t0 = b.time()
    heap = []
    peak = 0
    while b.time() - t0 < hours * 3600:
        await b.sleep_ms(60000)
        gc.collect()
        heap.append(gc.mem_alloc())
        peak = max(peak, gc.mem_alloc())
    runner.cancel()
    restarts = [e for e in m.events.recent() if e["kind"] == "task_restart"]
    print(json.dumps({"heap": heap, "peak_live": peak, "free": gc.mem_free(),
                      "windows": m.windows, "missed": m.missed, "wh": m.energy.wh,
                      "status": m.reading.status, "restarts": restarts,
                      "source": m.src.counters(), "journal_seq": m.journal.seq,
                      "topup": topup, "credit": m.credit.snapshot()["credit"]}))


asyncio.run(main(float(sys.argv[1])))
