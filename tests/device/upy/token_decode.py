# Decodes a file of tokens on the meter's codec (prepay.opaygo under MicroPython).
# Each input line: KEY_HEX START EXT(0|1) LAST_COUNT TOKEN. Prints one JSON list per token
# [status, value, mode, count], then {"n", "ms", "steps"}: decode time and chain steps.
import json
import sys
import time

from prepay.opaygo import Codec


def main(path):
    codecs = {}
    n = steps = 0
    us = 0
    with open(path) as f:
        for line in f:
            key, start, ext, last, tok = line.split()
            k = (key, start, ext)
            c = codecs.get(k)
            if c is None:
                codecs.clear()          # a few keys at a time: keep the heap flat
                c = codecs[k] = Codec(key, int(start), ext == "1")
            t = time.ticks_us()
            r = c.decode(tok, int(last), 1)
            us += time.ticks_diff(time.ticks_us(), t)
            n += 1
            steps += (r[3] if r[0] == 0 else int(last) + c.max_jump) + 1
            print(json.dumps(list(r)))
    print(json.dumps({"n": n, "ms": us // 1000, "steps": steps}))


main(sys.argv[1])
