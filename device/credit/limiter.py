# Maximum-power limit, as Tasmota's MaxPower / MaxPowerHold / MaxPowerWindow: the relay trips
# after the load stays above limit_w for hold_s, reconnects after retry_s, and after
# `retries` reconnections that trip again it gives up until the consumer (or owner) resets.
# The trip count is forgotten after retry_s of running under the limit. Time is meter
# time from the metering windows (dt_ms), never the wall clock.
from micropython import const

NORMAL = const(0)
TRIPPED = const(1)
GAVE_UP = const(2)


class Limiter:
    def __init__(self, limit_w, hold_s, retry_s, retries):
        self.limit = limit_w
        self.hold_ms = hold_s * 1000
        self.retry_ms = retry_s * 1000
        self.retries = retries
        self.state = NORMAL
        self.trips = 0      # trips since the load last ran under the limit for retry_s
        self._over = 0      # ms above the limit
        self._ok = 0        # ms under the limit since the last trip
        self._wait = 0      # ms left before the retry

    def update(self, p_w, dt_ms, closed):
        """One metering window. p_w None = no valid reading. -> None or the transition:
        "trip", "retry" or "gave_up"."""
        if not self.limit:
            return None
        if self.state == TRIPPED:
            self._wait -= dt_ms
            if self._wait > 0:
                return None
            self.state = NORMAL
            self._over = self._ok = 0
            return "retry"
        if self.state == GAVE_UP or not closed or p_w is None:
            self._over = 0
            return None
        if p_w > self.limit:
            self._over += dt_ms
            self._ok = 0
            if self._over < self.hold_ms:
                return None
            self._over = 0
            if self.trips >= self.retries:
                self.state = GAVE_UP
                return "gave_up"
            self.trips += 1
            self.state = TRIPPED
            self._wait = self.retry_ms
            return "trip"
        self._over = 0
        if self.trips:
            self._ok += dt_ms
            if self._ok >= self.retry_ms:
                self.trips = 0
        return None

    def reset(self):
        """Consumer confirmation or owner override after giving up."""
        self.state = NORMAL
        self.trips = self._over = self._ok = self._wait = 0

    def retry_in_s(self):
        return (self._wait + 999) // 1000 if self.state == TRIPPED else 0

    def state_list(self):
        return [self.state, self.trips]

    def restore(self, s):
        """After a restart a trip in progress starts its retry window again (conservative:
        pulling the fuse is no way round the limit)."""
        self.state, self.trips = s
        if self.state == TRIPPED:
            self._wait = self.retry_ms
