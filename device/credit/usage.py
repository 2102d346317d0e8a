# Spend history for the "days left" estimate: money spent per local day (energy +
# standing charge) over the last 7 days the meter ran. Days it was off are skipped, not
# counted as zero, so an outage does not make the estimate optimistic.
from micropython import const

_UM = const(1000000)
_DAYS = const(7)


class Usage:
    def __init__(self):
        self.day = -1        # local day number being accumulated
        self.today_um = 0    # spent today, micro-minor units
        self.hist = []       # whole minor units per completed day, newest last

    def add(self, um):
        self.today_um += um

    def roll(self, day):
        """Local day changed to `day`."""
        if self.day >= 0 and day > self.day:
            self.hist.append(self.today_um // _UM)
            if len(self.hist) > _DAYS:
                self.hist.pop(0)
        if day != self.day:
            self.day = day
            self.today_um = 0

    def days_left(self, balance, secs_today):
        """Whole days the balance lasts at the recent rate, or None with no history yet
        (today counts once it has 6 hours of data and no full day exists)."""
        spent = sum(self.hist)
        if spent > 0:
            return balance * len(self.hist) // spent
        if self.today_um > 0 and secs_today >= 21600:
            return balance * _UM * secs_today // (self.today_um * 86400)
        return None

    def state(self):
        return [self.day, self.today_um, self.hist]

    def restore(self, s):
        self.day, self.today_um, self.hist = s
