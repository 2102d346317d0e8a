# The viper chain step (prepay/sipstep.py) against the pure SipHash code it accelerates,
# for standard and extended codes over random keys. Prints {"steps", "mismatches"}.
import json
import random

from prepay import opaygo

random.seed(7)
steps = bad = 0
for ext in (False, True):
    for _ in range(25):
        key = bytes(random.getrandbits(8) for _ in range(16))
        c = opaygo.Codec(key, random.randint(1, 999999999), ext)
        x = random.randint(0, 999999) * (1000000 if ext else 1000) + random.randint(0, 999)
        for _ in range(200):
            fast = c._next(x)
            keep, opaygo._vstep = opaygo._vstep, None
            slow = c._next(x)
            opaygo._vstep = keep
            steps += 1
            bad += fast != slow
            x = fast
print(json.dumps({"steps": steps, "mismatches": bad, "viper": keep is not None}))
