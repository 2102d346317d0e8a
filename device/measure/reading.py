# One reading from a metering front-end. Drivers (pzem, analog) fill it in place; the core
# turns it into energy. Floats are for display only; billing uses integer Wh.
OK = "ok"
STALE = "stale"      # repeated failures: numbers are not live
STARTING = "starting"


class Reading:
    def __init__(self):
        self.v = 0.0
        self.i = 0.0
        self.p = 0.0      # real power, W
        self.s = 0.0      # apparent power, VA
        self.pf = 0.0     # signed: + lagging (inductive), - leading (capacitive)
        self.hz = 0.0
        self.register_wh = -1  # front-end's own cumulative energy register, -1 if none
        self.alarm = False
        self.status = STARTING
        self.fails = 0    # consecutive failed reads

    def as_dict(self):
        return {"v": round(self.v, 1), "i": round(self.i, 3), "p": round(self.p, 1),
                "s": round(self.s, 1), "pf": round(self.pf, 2), "hz": round(self.hz, 2),
                "status": self.status}
