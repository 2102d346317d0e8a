# The meter's days of credit left, by the one rule the gateway uses too (prepay/days_left.py):
# the credit stage feeds the week of hourly Wh (prepay/history.py) each window while the clock
# is synced, and the rule is loaded when an estimate is due (each local hour, at boot, after
# the balance went up) and dropped after. The week is saved in its own A/B file
# (<root>/hours.a|b) when the hour changes, the ring's 676 bytes written from it and read back
# into it in place (state_file.py's blob), so a restart loses at most the hour in progress;
# credit/setup.py restores it at boot. The page's 24-hour chart reads the same week (device/energy_history.py).
from lazy import forget


class Days:
    def __init__(self, hours, _slots):
        """`hours`: the week (prepay.history.History) as restored; `_slots`: its StateFile."""
        self.hours = hours
        self._slots = _slots
        self.left_s = None   # seconds the credit lasts: None unknown (no hours) or never
        self.used_h = 0      # complete hours of the week the estimate used
        self.oom = 0         # estimates skipped for want of memory to load the rule
        self._h = -1         # local hour the estimate was made in (-1: not yet)
        self._bal = 0        # the balance it was made for

    def update(self, t, bal, tariff):
        """The estimate at local time t for `bal` minor units, made again each local hour
        (saving the week first) and when the balance went up (a top-up, emergency credit);
        in between it stands (an hour's use moves it little)."""
        h = t // 3600
        if h == self._h and bal <= self._bal:
            return
        if self._h >= 0 and h != self._h:
            self.save()
        self._h, self._bal = h, bal
        # the rule, loaded for this and dropped: resident it costs 0.6 KB of the loose
        # bundle's 32-bit heap (608 B; frozen 208 B: tests/bench/bench_forget_sites.py).
        # Without the memory for it now the last estimate stands until the next hour.
        try:
            from prepay import days_left as rule
            self.used_h, day_um = rule.estimate(self.hours, tariff, h, rule.buckets(tariff))
            self.left_s = rule.seconds_left(bal, day_um)
        except MemoryError:
            self.oom += 1
        finally:
            rule = None
            forget("prepay.days_left")

    def save(self):
        h = self.hours
        self._slots.save({"s": [h.first, h.last]})    # and the ring, the slots' blob
