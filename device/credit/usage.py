# What the consumer spent (energy + standing charge) this local day and this local month,
# for the page. The days-left estimate is credit/days.py's (the one rule, prepay/days_left.py).
from prepay.civil import civil_from_days


class Usage:
    def __init__(self):
        self.day = -1        # local day number being accumulated
        self.today_um = 0    # spent today, micro-minor units
        self.mon = -1        # local month (1..12) of month_um
        self.month_um = 0    # spent this local month, micro-minor units

    def add(self, um):
        self.today_um += um
        self.month_um += um

    def roll(self, day):
        """Local day changed to `day`."""
        if day != self.day:
            self.day = day
            self.today_um = 0
            mon = civil_from_days(day)[1]
            if mon != self.mon:
                self.mon, self.month_um = mon, 0

    def state(self):
        return [self.day, self.today_um, self.mon, self.month_um]

    def restore(self, s):
        # older firmware saved its days-left history third: [day, today, days] (before the
        # month total) or [day, today, days, mon, month]; it is not needed any more
        self.day, self.today_um = s[0], s[1]
        if len(s) != 3:
            self.mon, self.month_um = s[-2], s[-1]
