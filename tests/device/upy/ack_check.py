# The meter's strict ack parse (prepay.topics.ack_seq) against the schema checker
# (prepay.protocol.decode) on one corpus: reads JSON lines {"p": hex payload}, prints one
# JSON line per case {"fast": seq or null, "schema": seq or null}. Runs on both runtimes
# (tests/prepay/test_protocol.py).
import json
import sys

from prepay import protocol as P
from prepay import topics as T


def both(payload):
    try:
        s = P.decode(P.ACK, payload)["seq"]
    except ValueError:
        s = None
    return {"fast": T.ack_seq(payload), "schema": s}


def main(path):
    with open(path) as f:
        for line in f:
            p = bytes.fromhex(json.loads(line)["p"])
            print(json.dumps(both(p)))


if __name__ == "__main__":
    main(sys.argv[1])
