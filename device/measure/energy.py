# The meter's energy register: integer Wh plus a residual in mW*s, so integrating power
# never drifts from rounding. Two inputs: power over time (analog front-end) and a
# front-end's own cumulative register (PZEM). The register path is reset-safe: a register
# that goes backwards (PZEM reset, swapped module) or jumps beyond what max_power_w could
# deliver is re-based and recorded as an anomaly, never billed.
from micropython import const

from measure.reading import OK

_MWS_PER_WH = const(3600000)


class Energy:
    def __init__(self, max_power_w=25000):
        self.wh = 0          # cumulative Wh, billed from
        self.res_mws = 0     # sub-Wh residual, 0 <= res_mws < 3.6e6
        self.last_reg = -1   # last front-end register value seen (Wh), -1 = none
        self.max_power_w = max_power_w
        self.anomalies = 0
        self.last_anomaly = None  # (kind, detail) for the event log
        self._since_fresh = 0     # ms since the last fresh reading

    def add(self, r, dt_ms):
        """One metering window's reading `r` over dt_ms. Only a fresh reading counts (status
        stays OK for a few failed reads): its front-end register when it has one, else its
        power over the window."""
        self._since_fresh += dt_ms
        if r.status != OK or r.fails:
            return
        if r.register_wh >= 0:
            # the PZEM kept counting through failed reads: its delta spans the time since
            # the last fresh read, so bound the jump check by that, not one window
            self.add_register(r.register_wh, self._since_fresh)
        else:
            self.add_power(r.p, dt_ms)
        self._since_fresh = 0

    def add_power(self, p_w, dt_ms):
        """Integrate p_w over dt_ms; return whole Wh added."""
        if p_w <= 0 or dt_ms <= 0:
            return 0
        if p_w > self.max_power_w:
            self._anomaly("power_implausible", int(p_w))
            return 0
        self.res_mws += int(p_w * dt_ms + 0.5)
        d = self.res_mws // _MWS_PER_WH
        self.res_mws -= d * _MWS_PER_WH
        self.wh += d
        return d

    def add_register(self, reg_wh, dt_ms):
        """Take a front-end cumulative register reading; return the plausible Wh delta."""
        last = self.last_reg
        self.last_reg = reg_wh
        if last < 0:
            return 0
        d = reg_wh - last
        if d < 0:
            self._anomaly("register_backwards", d)
            return 0
        # +2 Wh slack for register quantisation at both ends of the window
        if d > self.max_power_w * max(dt_ms, 0) // _MWS_PER_WH + 2:
            self._anomaly("register_jump", d)
            return 0
        self.wh += d
        return d

    def _anomaly(self, kind, detail):
        self.anomalies += 1
        self.last_anomaly = (kind, detail)

    def state(self):
        return [self.wh, self.res_mws, self.last_reg]

    def restore(self, st):
        self.wh, self.res_mws, self.last_reg = st

    def rebase(self, wh_mws):
        """Set the register to [Wh, mWs], keeping the front-end register seen."""
        self.wh, self.res_mws = wh_mws
