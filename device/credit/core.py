# Prepaid credit: the meter alone decides whether the consumer has power (docs/relay.md).
# Credit is the stage of the metering pipeline that turns energy into a decision:
#     decision = credit.step(utc, dt_ms, energy.wh, reading)
# The work is done by small parts: ledger (money, pre-debit), limiter (max power), tokens
# (OpenPAYGO entry and lockout), usage (spent today and this month), days (days left, by
# the one rule the gateway uses too) and prepay.tariff (rates, calendar).
#
# Persistence: the energy register and all credit state are written together, atomically,
# to A/B slots (state_file.StateFile, "<root>/credit.a|b"). Writes happen only when something that
# matters changes: a pre-debit refill (sized to about one write per minute under load),
# a token, a relay policy change, the daily standing charge. Idle means no writes. The
# register saved is the one credit has priced up to; the meter restores the energy stage
# from it at boot (restored_energy) and, after a power loss, re-bases it as the first fresh
# reading settles what was used (Decision.rebase).
from micropython import const

from measure.reading import OK as _READ_OK
from prepay.record import F_RELAY_OPEN, F_FRIENDLY, F_EMERGENCY
from prepay.tariff import DAY_S
from sys import modules

from lazy import forget
from credit.limiter import TRIPPED, GAVE_UP

VERSION = const(1)         # layout of the persisted state (credit/setup.py restores it)
_UM = const(1000000)
_MAX_DAYS = const(31)      # standing charge: at most this many missed days at once


class Decision:
    """What one credit step hands the rest of the pipeline (one object, reused each window)."""

    def __init__(self):
        self.closed = False     # the relay: closed (supply on) or open
        self.reason = ""        # why (docs/relay.md): ok, no_credit, manual, config...
        self.flags = 0          # the interval record's credit flags (prepay.record F_*)
        self.net = 0            # balance less debt, minor units: each record carries it
        self.rebase = None      # [Wh, mWs]: the energy register this step settled on after
        # a power loss (once); the meter applies it to the energy stage


class Credit:
    def __init__(self, b, events, _energy_state, errors, tariff, friendly, _off, cur, mpm,
                 reconnect_min, confirm_cfg, em_amount, low_warn, low_days, pct, unit, q_min,
                 q_s, q_max, window_ms, pmax, L, lim, gate, usage, days, _slots, policy,
                 _sc_day, _pending, _wh):
        """Built at boot by credit/setup.py from_config (the config's settings, the tariff
        parsed and the state restored from flash: that code is loaded for it and dropped,
        2.1 KB of the loose bundle's 32-bit heap, tests/bench/bench_forget_sites.py). Each
        parameter is named as the field it sets (a new name would be interned for good in
        the loose bundle's heap). `errors`: the config's errors (any: the relay stays open,
        reason "config"); `_energy_state`: the energy stage's state() (saved with the
        credit); `policy`: [cut, confirm, manual] as restored."""
        self.b = b
        self.events = events
        self._energy_state = _energy_state
        self.errors = errors
        self.tariff = tariff            # prepay.tariff: the rates and the calendar
        self.friendly = friendly        # prepay.windows: the friendly-credit hours
        self._off = _off                # s: local time = UTC + this
        self.cur = cur                  # currency
        self.mpm = mpm                  # minor units per major
        self.reconnect_min = reconnect_min  # minor units to reconnect after a cut
        self.confirm_cfg = confirm_cfg  # the consumer confirms a reconnection
        self.em_amount = em_amount      # emergency credit, minor units
        self.low_warn = low_warn
        self.low_days = low_days
        self.pct = pct                  # share of each top-up that repays debt
        self.unit = unit                # minor units per token unit
        self.q_min = q_min              # pre-debit quantum: at least Wh,
        self.q_s = q_s                  # ... about this many seconds of the present load,
        self.q_max = q_max              # ... at most Wh
        self.window_ms = window_ms
        self.pmax = pmax                # W: the front-end's range
        self.L = L                      # credit/ledger.py: money, reserve, debt
        self.lim = lim                  # credit/limiter.py: the maximum-power limit
        self.gate = gate                # credit/tokens.py: token replay memory, lockout
        self.usage = usage              # credit/usage.py: spent today and this month
        self.days = days                # credit/days.py: the week of hourly Wh, days left
        self._slots = _slots            # state_file.StateFile: where save() writes
        self._cut, self._confirm, self.manual = policy
        # _cut: disconnected for lack of credit (hysteresis); _confirm: waiting for the
        # consumer to confirm reconnection; manual: None automatic, False held open, True
        # held closed
        self._consent = False     # consumer just acted (emergency): no confirm needed
        self._sc_day = _sc_day    # last local day the standing charge was taken for
        self._pending = _pending  # (register Wh, front-end register, Wh pre-paid) to settle
        self._wh = _wh            # the register Wh priced so far
        self._day = -1
        self._low = False
        self.low_amount = self.low_by_days = False
        self.days_left = None
        self.friendly_now = False
        self.relay_closed = False
        self.relay_reason = "config" if errors else "no_credit"
        self.retry_in_s = 0
        self.restored = None      # [used Wh, forfeited Wh, forfeited minor] after a power loss
        self.decision = Decision()      # what step() returns, reused each window

    def save(self):
        """Persist energy register + credit state atomically (one slot write)."""
        e = self._energy_state()
        e[0] = self._wh
        if self.decision.rebase:        # settled this step; the meter applies it next
            e[0], e[1] = self.decision.rebase
        self._slots.save({
            "v": VERSION, "e": e, "w": self.L.state(),
            "t": self.gate.state(), "p": [self._cut, self._confirm, self.manual],
            "m": self.lim.state_list(), "u": self.usage.state(), "s": self._sc_day})

    @property
    def writes(self):
        return self._slots.writes

    def balance(self):
        """The consumer's credit in minor units. Just after a power loss, until the first
        reading settles what was used (about one window), it is the lower bound: as if
        all the energy pre-paid at the last save had been used."""
        L = self.L
        if not self._pending:
            return L.balance()
        left = L.reserve_um - self._pending[2] * L.rmax
        return L.credit + (left // _UM if left > 0 else 0)

    # ---- the metering window --------------------------------------------------------
    def step(self, utc, dt_ms, wh, r):
        """One metering window: `wh` the energy register after it, `r` its reading. Prices
        the energy, takes the standing charge, applies the power limit and the credit
        policy, pre-debits the next window. -> the Decision (relay, flags, net credit)."""
        d = self.decision
        d.rebase = None
        if not self.errors:
            self._step(utc, dt_ms, wh, r)
        else:
            self.relay_closed = False
            self.relay_reason = "config"
        d.closed = self.relay_closed
        d.reason = self.relay_reason
        d.flags = self.flags()
        d.net = self.net()
        return d

    def _step(self, utc, dt_ms, wh, r):
        L = self.L
        if self._pending:
            if not self._settle_restore(dt_ms, r):
                return                   # relay stays open until the first fresh reading
            wh = self._wh
        timed = self.b.rtc_valid()
        t = utc + self._off
        dirty = False
        # 1. price the energy used in this window and draw it from the reserve
        d = wh - self._wh
        self._wh = wh
        if timed and dt_ms:   # the week of hourly Wh (not the boot step, which measured
            # nothing); a window ending at 01:00:00 is hour 00's
            self.days.hours.add(t - 1, d if d > 0 else 0)
        if d > 0:
            cost = d * self._rate(t, timed)
            self.usage.add(cost)
            if L.draw(cost):
                dirty = True
            if L.paid_wh < wh:
                L.paid_wh = wh
        # 2. a new local day: standing charge and usage history
        if timed and t // DAY_S != self._day:
            self._day = t // DAY_S
            dirty = self._new_day(self._day) or dirty
        # 3. maximum power
        ev = self.lim.update(r.p if r.status == _READ_OK else None, dt_ms,
                             self.relay_closed and self.manual is not True)
        if ev:
            dirty = True
            self.events.emit("power_limit", action=ev, p=int(r.p), limit=self.lim.limit,
                             trips=self.lim.trips)
        self.retry_in_s = self.lim.retry_in_s()
        # 4. credit policy with hysteresis
        fr = timed and self.friendly.match(t) is not None
        self.friendly_now = fr
        floor = self._floor(dt_ms)
        rmax = self.tariff.max_rate
        debt_ok = fr or not L.prepaid
        can = L.can_cover(floor, rmax)
        if self._cut:
            if debt_ok or (can and (L.balance() >= self.reconnect_min or self._consent)):
                self._cut = False
                self._confirm = self.confirm_cfg and not self._consent
                dirty = True
        elif not (can or debt_ok):
            self._cut = True
            dirty = True
        self._consent = False
        reason = self._reason()
        closed = reason == "ok" or (reason == "manual" and self.manual is True)
        # 5. pre-debit before the relay (re)closes for the next window
        if closed:
            got = L.refill(wh, floor, self._quantum(r), rmax, debt_ok)
            if got is None:        # cannot happen after can_cover; stay safe anyway
                closed, reason, self._cut = False, "no_credit", True
            elif got:
                dirty = True
            if closed and reason == "ok" and fr and L.on_debt:
                reason = "friendly"        # supplied on debt: only the window allows it
        elif L.release(wh):
            dirty = True
        if closed != self.relay_closed or reason != self.relay_reason:
            self.relay_closed = closed
            self.relay_reason = reason
            self.events.emit("relay", closed=closed, reason=reason, credit=L.balance())
            dirty = True
        self._warn(t)
        if dirty:
            self.save()

    def _settle_restore(self, dt_ms, r):
        """After a power loss with energy pre-paid (head Wh). A front-end with its own
        register (PZEM) tells how much was used after the last save: that is billed and
        the rest of the reserve stays the consumer's. Otherwise (analog front-end, no
        fresh reading, a register that went back or jumped beyond head) the whole head is
        treated as delivered and its reserve forfeited. -> True once settled."""
        if dt_ms <= 0:
            return False                 # the boot step: nothing read yet
        wh_s, reg_s, head = self._pending
        self._pending = None
        L = self.L
        gap = r.register_wh - reg_s if reg_s >= 0 and r.register_wh >= 0 and \
            r.status == _READ_OK and r.fails == 0 else -1
        if 0 <= gap <= head:
            self.decision.rebase = [wh_s + gap, self._energy_state()[1]]
            cost = gap * L.rmax          # when it was used is unknown: highest rate
            L.draw(cost)
            self.usage.add(cost)
            self.restored = [gap, 0, 0]
        else:
            fwh, f = L.forfeit(wh_s)
            self.decision.rebase = [L.paid_wh, 0]
            self.restored = [0, fwh, f // _UM]
            if gap > head:
                self.events.emit("anomaly", what="restore_gap", detail=gap)
        self._wh = self.decision.rebase[0]
        self.events.emit("restore", used_wh=self.restored[0], forfeit_wh=self.restored[1],
                         forfeit=self.restored[2])
        self.save()
        return True

    def _rate(self, t, timed):
        tar = self.tariff
        if not tar.rates:
            return 0
        # without a valid clock the local time is unknown: the default rate applies
        return tar.rate(t) if timed else tar.rates[tar.default]

    def _new_day(self, day):
        self.usage.roll(day)
        if self._sc_day >= 0 and day <= self._sc_day:
            return False             # same day, or the clock went back: already charged
        n = 1 if self._sc_day < 0 else min(day - self._sc_day, _MAX_DAYS)
        self._sc_day = day
        if not self.tariff.standing_milli:
            return False
        L = self.L
        minor, L.sc_carry = self.tariff.standing(n, L.sc_carry)
        L.charge(minor)
        self.usage.add(minor * _UM)
        return True

    def _floor(self, dt_ms):
        """Energy that could flow before the next window at the largest plausible power:
        always pre-paid, so even the last window before a cut is paid for."""
        w = self.window_ms
        ms = dt_ms if dt_ms > w else w
        if ms > 4 * w:
            ms = 4 * w
        return (self.pmax * ms + 3599999) // 3600000 + 1

    def _quantum(self, r):
        """Pre-debit quantum: quantum_s of use at the present power (one state write per
        quantum_s under steady load), at least quantum_wh, at most quantum_max_wh."""
        p = int(r.p) if r.status == _READ_OK and r.p > 0 else 0
        q = (p * self.q_s + 3599) // 3600
        if q < self.q_min:
            q = self.q_min
        if self.q_max and q > self.q_max:
            q = self.q_max
        return q

    def _reason(self):
        if self.manual is False:
            return "manual"
        if self._cut:
            return "no_credit"
        if self.manual is True:
            return "manual"
        st = self.lim.state
        if st == GAVE_UP:
            return "gave_up"
        if st == TRIPPED:
            return "power_limit"
        if self._confirm:
            return "confirm"
        return "ok"

    def _warn(self, t):
        bal = self.balance()
        self.low_amount = bal < self.low_warn
        days = self.days
        days.update(t, bal, self.tariff)
        s = days.left_s
        self.days_left = dl = None if s is None else s // DAY_S    # whole days
        self.low_by_days = dl is not None and dl < self.low_days
        low = self.low_amount or self.low_by_days
        if low and not self._low:
            self.events.emit("low_credit", credit=bal, days_left=dl)
        self._low = low

    # ---- consumer and owner actions (credit.actions, loaded for the call) -----------
    def _action(self, name, *args):
        # loaded per call and dropped after: keeping it resident would cost 2.8 KB of the
        # loose bundle's 32-bit heap (tests/bench/bench_forget_sites.py)
        # An action's money text loads credit/views.py; a meter without its page (or before
        # it) then keeps it for nothing: 1.1 KB of the loose bundle's 32-bit heap (1152 B,
        # frozen 128 B, measured after boot without the page as bench_forget_sites.py does),
        # so what the action loaded goes with it.
        had = "credit.views" in modules
        from credit import actions
        try:
            return getattr(actions, name)(self, *args)
        finally:
            actions = None
            forget("credit.actions")
            if not had:
                forget("credit.views")

    def enter_token(self, code, remote=False):
        """Top-up code entry. -> {"result": accepted|used|old|invalid|locked, "amount": minor
        units, "message": plain words, "locked_s": seconds}. remote=True: delivered by the
        utility over MQTT, outside the consumer's lockout (docs/tokens.md)."""
        return self._action("enter_token", code, remote)

    def token_state(self):
        """[highest accepted count, used bitmask] of the replay memory (tele/info `tok`)."""
        g = self.gate
        return [g.last, g.used]

    def activate_emergency(self):
        """-> {"ok", "amount"} or {"ok": False, "why": em_in_use|em_not_offered|em_not_low}:
        emergency credit, once, repaid from the next top-up (the page words it)."""
        return self._action("activate_emergency")

    def confirm_reconnect(self):
        """-> {"ok", "message"}: consumer confirms reconnection (after a cut, or after the
        power limit gave up)."""
        return self._action("confirm_reconnect")

    def set_manual(self, action):
        """-> {"ok", "message"}. Owner override (credit.actions.MANUAL): "open" holds the
        relay open, "close" holds it closed over the power limit and confirmation (never over
        lack of credit), "auto" is automatic."""
        return self._action("set_manual", action)

    def emergency_available(self):
        return (self.em_amount > 0 and not self.L.em_owed and not self.errors
                and self.balance() < max(self.low_warn, self.reconnect_min))

    # ---- views (credit/views.py: loaded by the page, token results and commands; the
    # metering loop, the journal and telemetry need only balance() and net()) -----------
    def net(self):
        """Balance less debt: what each interval record carries."""
        return self.balance() - self.L.debt

    def money(self, minor):
        """Display string, e.g. 123.45 INR (integer arithmetic)."""
        from credit import views
        return views.money(self, minor)

    def flags(self):
        f = 0
        if not self.relay_closed:
            f |= F_RELAY_OPEN
        if self.friendly_now:
            f |= F_FRIENDLY
        if self.L.em_owed:
            f |= F_EMERGENCY
        return f

    def snapshot(self):
        """Credit, debt, emergency, days left, low flags, relay state and reason, lockout,
        state writes... (docs/relay.md lists the keys)."""
        from credit import views
        return views.snapshot(self)

    def audit(self):
        """Every unit in and out (micro-minor where noted), for reconciliation and tests."""
        from credit import views
        return views.audit(self)
