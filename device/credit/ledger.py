# The consumer's money, in integer minor units (paise, cents), and the pre-debit reserve.
#
# Pre-debit: energy is paid for BEFORE it flows. `paid_wh` is the energy-register reading
# up to which energy is paid; `reserve_um` (micro-minor units) is the money held for the
# energy between the register and paid_wh, sized at the tariff's highest rate so it covers
# that energy whatever time-of-use rate applies when it is used. Each window the energy
# actually used is priced at the rate in force and drawn from the reserve (exact, no
# rounding). The core persists the state whenever the reserve is refilled, so a power cut
# at any instant finds paid_wh >= the energy used: on restore that energy is treated as
# delivered (forfeit: at most one quantum plus the one-window floor).
from micropython import const

_UM = const(1000000)  # micro-minor units per minor unit


class Ledger:
    def __init__(self):
        self.credit = 0       # minor units, free (not reserved)
        self.reserve_um = 0   # pre-debited money for energy up to paid_wh
        self.paid_wh = 0      # register reading through which energy is paid
        self.rmax = 0         # rate (micro-minor per Wh) the reserve was sized at
        self.debt = 0         # minor units owed: standing charges at zero credit, friendly use
        self.em_owed = 0      # emergency credit given, repaid from the next top-up(s)
        self.prepaid = True   # False after an OpenPAYGO DISABLE token (post-paid: never cut)
        self.on_debt = False  # the reserve was (partly) funded by debt (friendly hours)
        self.sc_carry = 0     # standing-charge remainder, micro-minor units
        # audit totals: every unit in or out is accounted for (tests, reconciliation)
        self.topped = 0       # minor units entered by ADD tokens (face value)
        self.given = 0        # minor units given otherwise: initial credit, SET deltas
        # conservation (tests/device/test_credit.py): given + topped + debt + em_owed ==
        #   credit + reserve + energy + standing + forfeit (in micro-minor units)
        self.energy_um = 0    # money drawn for measured energy, micro-minor
        self.standing = 0     # minor units of standing charge
        self.forfeit_um = 0   # reserve forfeited at restarts after a power loss
        self.forfeit_wh = 0

    def balance(self):
        """What the consumer sees as credit: free + reserved, rounded down."""
        return self.credit + self.reserve_um // _UM

    # ---- energy
    def draw(self, cost_um):
        """Energy used: paid from the reserve. True if it overran the reserve (energy beyond
        paid_wh: a window longer than planned); the overrun is taken from credit, then debt."""
        self.energy_um += cost_um
        self.reserve_um -= cost_um
        if self.reserve_um >= 0:
            return False
        need = (_UM - 1 - self.reserve_um) // _UM
        take = need if need <= self.credit else self.credit
        self.credit -= take
        self.debt += need - take
        self.reserve_um += need * _UM
        return True

    def can_cover(self, floor_wh, rmax):
        """Can the consumer's own money pre-pay floor_wh at the highest rate? A reserve
        funded by debt does not count: when friendly hours end, supply is cut at once."""
        if self.on_debt:
            return False
        return rmax == 0 or self.reserve_um + self.credit * _UM >= floor_wh * rmax

    def refill(self, wh, floor_wh, q_wh, rmax, debt_ok):
        """Keep at least floor_wh pre-paid ahead of register reading wh, topping up by a
        quantum. -> False: nothing needed; True: state changed (persist BEFORE closing the
        relay); None: not coverable (no credit, and debt not allowed)."""
        if self.paid_wh - wh >= floor_wh and self.rmax >= rmax:
            return False
        ahead = floor_wh + q_wh
        need_um = ahead * rmax - self.reserve_um
        need = (need_um + _UM - 1) // _UM if need_um > 0 else 0
        take = need if need <= self.credit else self.credit
        if take < need and not debt_ok:
            ahead = (self.reserve_um + take * _UM) // rmax   # what the balance buys
            if ahead < floor_wh:
                return None
            need = take
        self.credit -= take
        self.debt += need - take            # friendly hours / post-paid: funded by debt
        self.on_debt = need > take
        self.reserve_um += need * _UM
        self.paid_wh = wh + ahead
        self.rmax = rmax
        return True

    def release(self, wh):
        """Relay open: no energy can flow, so the reserve goes back to credit (the sub-minor
        part stays). True if anything changed."""
        m = self.reserve_um // _UM
        if not m and self.paid_wh == wh and not self.on_debt:
            return False
        self.credit += m
        self.reserve_um -= m * _UM
        self.paid_wh = wh
        self.on_debt = False
        return True

    def forfeit(self, wh_saved):
        """At boot after a power loss: energy up to paid_wh may have been used after the last
        save. Treat it as delivered; its reserve is spent. -> (Wh, micro-minor) forfeited."""
        head = self.paid_wh - wh_saved
        if head <= 0:
            self.paid_wh = wh_saved
            return 0, 0
        f = head * self.rmax
        if f > self.reserve_um:
            f = self.reserve_um
        self.reserve_um -= f
        self.forfeit_um += f
        self.forfeit_wh += head
        return head, f

    # ---- money in and out
    def charge(self, minor):
        """A charge not tied to pre-paid energy (standing charge): credit, then debt."""
        take = minor if minor <= self.credit else self.credit
        self.credit -= take
        self.debt += minor - take
        self.standing += minor

    def topup(self, amount, pct):
        """ADD token: repay emergency credit first, then pct% of the rest to debt, the
        remainder to credit. -> (to_emergency, to_debt)."""
        self.topped += amount
        e = self.em_owed if self.em_owed <= amount else amount
        self.em_owed -= e
        amount -= e
        r = amount * pct // 100
        if r > self.debt:
            r = self.debt
        self.debt -= r
        self.credit += amount - r
        self.prepaid = True
        self.on_debt = False
        return e, r

    def set_balance(self, amount):
        """SET token: the balance becomes amount (debt and emergency owed unchanged)."""
        new = amount - self.reserve_um // _UM
        if new < 0:
            new = 0
        self.given += new - self.credit
        self.credit = new
        self.prepaid = True
        self.on_debt = False

    def emergency(self, amount):
        self.credit += amount
        self.em_owed += amount

    # ---- persistence (short list: it is written to flash on every save)
    def state(self):
        flags = (1 if self.prepaid else 0) | (2 if self.on_debt else 0)
        return [self.credit, self.reserve_um, self.paid_wh, self.rmax, self.debt, self.em_owed,
                flags, self.sc_carry, self.topped, self.given, self.energy_um, self.standing, self.forfeit_um, self.forfeit_wh]

    def restore(self, s):
        (self.credit, self.reserve_um, self.paid_wh, self.rmax, self.debt, self.em_owed, p,
         self.sc_carry, self.topped, self.given, self.energy_um, self.standing,
         self.forfeit_um, self.forfeit_wh) = s
        self.prepaid = bool(p & 1)
        self.on_debt = bool(p & 2)
