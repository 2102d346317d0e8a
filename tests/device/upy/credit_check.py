# Runs credit scenarios on the unix port, one JSON line each. The scenarios live in small
# modules (cs_money, cs_relay) so each compiles within the capped heap.
# Usage: micropython credit_check.py MODULE NAME... (METER_ROOT, METER_EPOCH, METER_SPEED set).
import gc
import json
import sys
import time


def main():
    mod = __import__(sys.argv[1])
    for name in sys.argv[2:]:
        gc.collect()
        t = time.ticks_ms()
        out = getattr(mod, "s_" + name)()
        out["name"] = name
        out["ms"] = time.ticks_diff(time.ticks_ms(), t)
        print(json.dumps(out))


main()
