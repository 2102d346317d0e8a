# The one restart path (device/reboot.py) under MicroPython, through both of its callers:
# the admin page's restart and a config command's restart (remote.Remote.restart). Prints, per
# caller, the order in which the credit state, the journal and the board were touched.
import asyncio
import json


class Part:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def save(self):
        self.log.append(self.name + ".save")

    def flush(self):
        self.log.append(self.name + ".flush")

    def reset(self):
        self.log.append(self.name + ".reset")


class M:
    def __init__(self, log, credit=True):
        self.credit = Part(log, "credit") if credit else None
        self.journal = Part(log, "journal")
        self.board = Part(log, "board")


out = {}
log = []
from web import admin
asyncio.run(admin._reboot(M(log)))
out["admin"] = log
log = []
from remote import Remote


def restart(m):
    Remote(m.board, m.credit, None, None, m.journal).restart()


restart(M(log))
out["mqtt"] = log
log = []
restart(M(log, credit=False))   # config-error state: no credit, the journal still runs
out["config_error"] = log
print(json.dumps(out))
