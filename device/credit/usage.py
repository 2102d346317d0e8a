# Spend history for the "days left" estimate: money spent per local day (energy +
# standing charge) over the last 7 days the meter ran. Days it was off are skipped, not
# counted as zero, so an outage does not make the estimate optimistic. Also what the page
# shows as spent today and this local month.
from micropython import const

from prepay.civil import civil_from_days

_UM = const(1000000)
_DAYS = const(7)
_NEED_S = const(21600)   # today counts for the estimate after 6 hours of data


class Usage:
    def __init__(self):
        self.day = -1        # local day number being accumulated
        self.today_um = 0    # spent today, micro-minor units
        self.hist = []       # whole minor units per completed day, newest last
        self.mon = -1        # local month (1..12) of month_um
        self.month_um = 0    # spent this local month, micro-minor units

    def add(self, um):
        self.today_um += um
        self.month_um += um

    def roll(self, day):
        """Local day changed to `day`."""
        if self.day >= 0 and day > self.day:
            self.hist.append(self.today_um // _UM)
            if len(self.hist) > _DAYS:
                self.hist.pop(0)
        if day != self.day:
            self.day = day
            self.today_um = 0
            mon = civil_from_days(day)[1]
            if mon != self.mon:
                self.mon, self.month_um = mon, 0

    def days_left(self, balance, secs_today):
        """Whole days the balance lasts at the recent rate, or None with no history yet
        (today counts once it has 6 hours of data and no full day exists)."""
        spent = sum(self.hist)
        if spent > 0:
            return balance * len(self.hist) // spent
        if self.today_um > 0 and secs_today >= _NEED_S:
            return balance * _UM * secs_today // (self.today_um * 86400)
        return None

    def needs_hours(self, secs_today):
        """Hours of data days_left still waits for (rounded up); 0 when it has enough time
        and only use is missing."""
        if self.hist or secs_today >= _NEED_S:
            return 0
        return (_NEED_S - secs_today + 3599) // 3600

    def state(self):
        return [self.day, self.today_um, self.hist, self.mon, self.month_um]

    def restore(self, s):
        self.day, self.today_um, self.hist = s[:3]
        if len(s) > 3:             # saved before the month total existed: it starts at 0
            self.mon, self.month_um = s[3], s[4]
