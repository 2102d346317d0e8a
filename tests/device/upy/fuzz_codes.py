# Token fuzz on a provisioned meter's decoder (make bench): a Credit is provisioned from a
# config (key, starting code, variant, max_jump) and given some real tokens, then N random
# codes go through the same decoder its token gate uses (prepay.opaygo.Codec with the
# gate's state), with the lockout bypassed. Also times decoding: the viper chain step
# against the pure bytecode SipHash, in the same run.
# argv: N EXT(0|1) MAX_JUMP SEED. Prints one JSON object.
import json
import random
import sys
import time

from credit_harness import meter, KEY, START
from prepay import opaygo


def main(n, ext, max_jump, seed):
    m = meter({"tariff": {"rates": {"std": 1000}},
               "token": {"key": KEY, "starting_code": START, "digits": 12 if ext else 9,
                         "max_jump": max_jump}}, fresh=True)
    cr = m.credit
    c = opaygo.Codec(KEY, START, ext, max_jump)
    for count in (2, 4, 8, 10):            # provisioned: tokens 2, 4, 8, 10 used; 6 not
        cr.enter_token(c.encode(7, count))
    g = cr.gate
    last, used = g.last, g.used
    random.seed(seed)
    hits = []
    t = time.ticks_ms()
    for _ in range(n):
        if ext:
            code = "%06d%06d" % (random.randrange(1000000), random.randrange(1000000))
        else:
            code = "%03d%06d" % (random.randrange(1000), random.randrange(1000000))
        st, v, mode, count = c.decode(code, last, used)
        if st == opaygo.OK:
            hits.append([code, v, mode, count])
    ms = time.ticks_diff(time.ticks_ms(), t)
    # decode timing at a few counters: viper chain step vs the pure bytecode SipHash
    timing = []
    for at in (10, 100, 1000):
        tok = c.encode(5, at + 2)
        row = [at]
        for fast in (True, False):
            keep = opaygo._vstep
            if not fast:
                opaygo._vstep = None
            reps = 20 if fast else 3
            t0 = time.ticks_us()
            for _ in range(reps):
                r = c.decode(tok, at, 1)
            row.append(time.ticks_diff(time.ticks_us(), t0) / reps / 1000)
            opaygo._vstep = keep
            assert r[0] == opaygo.OK
        timing.append(row)
    print(json.dumps({"n": n, "ext": ext, "max_jump": max_jump, "last": last, "used": used,
                      "hits": hits, "ms": ms, "timing": timing}))


main(int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]))
