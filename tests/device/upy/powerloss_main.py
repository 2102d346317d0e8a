# The firmware exactly as device/main.py boots it (Board -> Meter -> run), plus one
# test-only task: it feeds top-up codes dropped into <root>/inbox to Credit.enter_token
# (the same call the web page and MQTT make) and prints the meter's state as JSON lines
# every 20 real ms, so the power-loss test can check invariants up to the SIGKILL.
import asyncio
import gc
import json
import os

from board import Board
from meter import boot


def probe_line(m, boot):
    c = m.credit
    a = c.audit()
    a["bal"] = c.balance()
    a["closed"] = c.relay_closed
    a["reason"] = c.relay_reason
    a["coil"] = m.board.relay_closed()
    a["win"] = m.windows
    a["reg"] = m.reading.register_wh
    a["count"] = c.gate.last
    a["writes"] = c.writes
    a["torn"] = c._slots.corrupt
    a["rmax"] = c.tariff.max_rate
    a["restored"] = c.restored
    a["pending"] = c._pending is not None
    if boot:
        a["boot"] = 1
        a["corrupt_ev"] = len([e for e in m.events.recent() if e["kind"] == "state_corrupt"])
    return json.dumps(a)


async def probe(m):
    root = m.board.root
    print(probe_line(m, True))
    while True:
        try:
            with open(root + "/inbox") as f:
                code = f.read().strip()
            os.remove(root + "/inbox")
        except OSError:
            code = None
        if code:
            r = m.credit.enter_token(code)
            print(json.dumps({"tok": code, "r": r["result"], "amount": r["amount"]}))
        print(probe_line(m, False))
        await asyncio.sleep_ms(20)


async def main():
    m = boot(Board())
    if m.errors:
        print(json.dumps({"config_errors": m.errors}))
        return
    asyncio.create_task(probe(m))
    await m.run()


gc.collect()
asyncio.run(main())
