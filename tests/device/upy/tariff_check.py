# Evaluates the tariff vectors (tests/prepay/tariff_vectors.json) with prepay.tariff and
# prints the results as one JSON object. The same function runs on CPython (imported by
# tests/prepay/test_tariff.py) and on the unix-port MicroPython (run as a script).
import json
import sys

from prepay.tariff import Tariff, TariffError, local_seconds, cost_by_bucket


def evaluate(v):
    t = Tariff(v["tariff"])
    out = {"queries": [], "prices": [], "standing": [], "errors": []}
    for utc, off, _, _ in v["queries"]:
        lt = local_seconds(utc, off)
        out["queries"].append([t.bucket(lt), t.rate(lt)])
    for wh, utc, off, carry, _, _ in v["prices"]:
        out["prices"].append(list(t.price(wh, local_seconds(utc, off), carry)))
    for days, carry, _, _ in v["standing"]:
        out["standing"].append(list(t.standing(days, carry)))
    c = v["cost_by_bucket"]
    out["cost_by_bucket"] = cost_by_bucket(t, c["deltas"], c["offset"])
    out["problems"] = []
    for doc, _ in v["errors"]:
        try:
            Tariff(doc)
            out["errors"].append(None)
            out["problems"].append(None)
        except TariffError as e:
            out["errors"].append(str(e))
            out["problems"].append([[k, c, list(vals)] for k, c, vals in e.problems])
    e = Tariff({})
    out["empty"] = ([[e.bucket(local_seconds(u, o)), e.rate(local_seconds(u, o))]
                     for u, o, _, _ in v["empty"]["queries"]] +
                    [list(e.price(wh, local_seconds(u, o), c)) for wh, u, o, c, _, _ in v["empty"]["prices"]])
    out["max_min"] = [t.max_rate, t.min_rate, t.names, t.standing_milli]
    out["next_change"] = []
    for utc, off, _, _ in v["next_change"]:
        at, rid = t.next_change(local_seconds(utc, off))
        out["next_change"].append([at, t.names[rid]])
    out["next_change"].append(e.next_change(local_seconds(v["next_change"][0][0], 0)))
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        out = evaluate(json.load(f))
    # streamed: the whole line as one string found no block in the 128k heap once every
    # bad input's problems were in it too
    json.dump(out, sys.stdout)
    print()
