# Run the real PZEM driver (measure.pzem over boards/unix_sim's PtyUart) against
# host_tools.pzem_sim through a scenario given as arguments; print one JSON line per step.
#   micropython pzem_script.py OP [OP ...]      (METER_ROOT is the simulator's --root)
# OPs: read:N  reset  addr:N  alarm:W  settings  relay:0|1  load:W[/PF]  fault:SPEC
#      (SPEC with ';' for ',', empty = off)  alloc:N  heap:N  wire  sleep:MS
#      mark:TEXT (prints {"op": "mark"})  waitfile:NAME (until METER_ROOT/NAME exists)
import sys
import os
import gc
import json
import asyncio

from board import Board
from measure.pzem import Pzem
from measure.reading import Reading


def put(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def row(op, r, pz, **extra):
    d = {"op": op, "v": r.v, "i": r.i, "p": r.p, "s": r.s, "pf": r.pf, "hz": r.hz,
         "wh": r.register_wh, "alarm": r.alarm, "status": r.status, "fails": r.fails,
         "c": pz.counters(), "addr": pz.address}
    d.update(extra)
    print(json.dumps(d))


async def main(ops):
    b = Board()
    b.relay(True)
    root = b.root
    pz = Pzem(b.uart(None, int(os.getenv("PZEM_TIMEOUT") or "200")), b,
              int(os.getenv("PZEM_ADDRESS") or "1"), int(os.getenv("PZEM_TIMEOUT") or "200"),
              int(os.getenv("PZEM_STALE") or "3"))
    r = Reading()
    for op in ops:
        name, _, arg = op.partition(":")
        if name == "read":
            for _ in range(int(arg or "1")):
                ok = await pz.read(r)
                row("read", r, pz, ok=ok)
        elif name == "reset":
            row("reset", r, pz, ok=await pz.reset_energy())
        elif name == "addr":
            row("addr", r, pz, ok=await pz.set_address(int(arg)))
        elif name == "alarm":
            row("alarm", r, pz, ok=await pz.set_alarm_threshold(int(arg)))
        elif name == "settings":
            st = await pz.read_settings()
            row("settings", r, pz, settings=list(st) if st else None)
        elif name == "badarg":   # the driver refuses out-of-range arguments before the wire
            errs = []
            for fn, v in ((pz.set_address, 0), (pz.set_address, 248),
                          (pz.set_alarm_threshold, -1), (pz.set_alarm_threshold, 65536)):
                try:
                    await fn(v)
                    errs.append(None)
                except ValueError as e:
                    errs.append(str(e))
            row("badarg", r, pz, errors=errs)
        elif name == "relay":
            b.relay(arg == "1")
        elif name == "load":
            put(root + "/load", arg.replace("/", " "))
        elif name == "fault":
            put(root + "/pzem_fault", arg.replace(";", ","))
        elif name == "mark":
            print(json.dumps({"op": "mark", "text": arg}))
        elif name == "waitfile":
            while True:
                try:
                    os.stat(root + "/" + arg)
                    break
                except OSError:
                    await asyncio.sleep_ms(20)
        elif name == "sleep":
            await asyncio.sleep_ms(int(arg))
        elif name == "wire":     # the exact request bytes the driver sends
            print(json.dumps({"op": "wire", "read": bytes(pz._rd).hex()}))
        elif name == "alloc":    # bytes allocated per read, no collection in between
            await pz.read(r)
            gc.collect()
            gc.disable()
            a = gc.mem_alloc()
            n = int(arg)
            for _ in range(n):
                await pz.read(r)
            per = (gc.mem_alloc() - a) // n
            gc.enable()
            row("alloc", r, pz, per_read=per)
        elif name == "heap":     # live heap after N reads vs before: no growth
            gc.collect()
            a = gc.mem_alloc()
            for _ in range(int(arg)):
                await pz.read(r)
            gc.collect()
            row("heap", r, pz, before=a, after=gc.mem_alloc(), free=gc.mem_free())
        else:
            raise ValueError("unknown op " + op)


asyncio.run(main(sys.argv[1:]))
