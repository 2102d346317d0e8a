# device/measure/quality.py under the unix-port MicroPython: scenarios given as JSON
# (argv[1]) of readings, each [v, hz, i, dt_ms, status], run through a Quality stage; prints
# one JSON line per scenario with the events emitted, the day's counts and what holds now.
# "alloc" runs 2,000 windows through a steady and a sagging supply with floats made in
# advance and prints the bytes allocated by step() (gc.mem_alloc before and after).
import gc
import json
import sys

from measure.quality import WHAT, Quality
from measure.reading import OK, Reading
from lazy import forget
from prepay.settings import SETTINGS

# the stage reads only its pq.* rows and the local offset; the settings module (the whole
# table and its validator) is dropped again, as the meter drops it after boot
DEFAULTS = {row[0]: row[1] for row in SETTINGS
            if row[0].startswith("pq.") or row[0] == "meter.utc_offset_min"}
SETTINGS = None
forget("prepay.settings")
gc.collect()


class Events:
    def __init__(self):
        self.got = []

    def emit(self, kind, **data):
        data["kind"] = kind
        self.got.append(data)


def run(sc):
    cfg = dict(DEFAULTS)
    cfg.update(sc.get("cfg", {}))
    q = Quality(cfg)
    ev = Events()
    r = Reading()
    utc = sc.get("t0", 1717200000)
    ms = 0
    for v, hz, i, dt, st in sc["readings"]:
        r.v, r.hz, r.i, r.status = float(v), float(hz), float(i), st or OK
        ms += dt
        q.emit(q.step(r, dt, utc + ms // 1000), ev)
    return {"events": ev.got, "counts": q.counts(),
            "now": [WHAT[k] for k in range(len(WHAT)) if q.active[k]]}


def alloc():
    q = Quality(DEFAULTS)
    r = Reading()
    r.status = OK
    volts = [230.0, 231.5, 229.0, 150.0, 150.5, 190.0]   # made before measuring
    hz, amps = 50.0, 5.0
    r.hz, r.i = hz, amps
    utc = 1717200000
    r.v = volts[0]
    q.step(r, 500, utc)   # the first window of a day allocates once (its midnight, counts)
    out = {}
    for name, seq in (("steady", (0, 1, 2)), ("sags", (3, 4, 5, 0))):
        gc.collect()
        before = gc.mem_alloc()
        for n in range(2000):
            r.v = volts[seq[n % len(seq)]]
            q.step(r, 500, utc)
        out[name] = gc.mem_alloc() - before
    return out


if __name__ == "__main__":
    if sys.argv[1] == "alloc":
        print(json.dumps(alloc()))
    else:
        with open(sys.argv[1]) as f:
            for sc in json.load(f):
                print(json.dumps(run(sc)))
