# The one config check on every path, under MicroPython (issue 11 (b)). Usage:
#   config_paths.py ROOT save UPDATE_JSON   -> {"errors", "file", "good"} after config.change
#   config_paths.py ROOT boot               -> {"errors", "fallback", "tele_s"} of config.boot
#   config_paths.py ROOT meter              -> what a Meter built on ROOT runs (from source:
#                                              a larger heap; the e2e tests run it at 128k)
import json
import sys

import config

root, job = sys.argv[1], sys.argv[2]


def text(name):
    try:
        with open(root + name) as f:
            return f.read()
    except OSError:
        return None


if job == "save":
    errors = config.change(root, json.loads(sys.argv[3]), "")   # as the installer
    print(json.dumps({"errors": errors, "file": text("/config.json"),
                      "good": text("/config.good.json")}))
elif job == "boot":
    cfg, errors, fallback = config.boot(root)
    print(json.dumps({"errors": errors, "fallback": fallback, "tele_s": cfg["mqtt.tele_s"],
                      "good": text("/config.good.json")}))
else:
    from board import Board
    from meter import boot
    m = boot(Board())
    from prepay.settings import english     # the meter keeps its problems as data
    print(json.dumps({"errors": [english(e) for e in m.errors], "problems": m.errors,
                      "relay": m.board.relay_closed(),
                      "credit": m.credit is not None, "sync": m.sync is not None,
                      "journal": m.journal is not None,
                      "events": [[e["kind"], e.get("n")] for e in m.events.recent()]}))
