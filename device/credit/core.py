# Prepaid credit: the meter alone decides whether the consumer has power (docs/relay.md).
# Credit is the facade the metering loop, the web page and MQTT sync use; the work is done
# by small parts: ledger (money, pre-debit), limiter (max power), tokens (OpenPAYGO entry
# and lockout), usage (days left) and prepay.tariff (rates, calendar).
#
# Persistence: the energy register and all credit state are written together, atomically,
# to A/B slots (slots.Slots, "<root>/credit.a|b"). Writes happen only when something that
# matters changes: a pre-debit refill (sized to about one write per minute under load),
# a token, a relay policy change, the daily standing charge. Idle means no writes.
from micropython import const

from slots import Slots
from measure.reading import OK as _READ_OK
from prepay import opaygo
from prepay.record import F_RELAY_OPEN, F_FRIENDLY, F_EMERGENCY
from prepay.tariff import DAY_S
from credit.ledger import Ledger
from credit.limiter import Limiter, TRIPPED, GAVE_UP
from credit.tokens import Gate
from credit.usage import Usage

_UM = const(1000000)
_VERSION = const(1)
_MAX_DAYS = const(31)      # standing charge: at most this many missed days at once

_MSG = {
    "used": "This code has already been used.",
    "old": "This code is too old to use. Ask your vendor for a new one.",
    "invalid": "Invalid code. Check the digits and try again.",
    "nokey": "This meter has no token key yet, so it cannot accept codes.",
    "locked": "Too many wrong codes: code entry is locked for %d s.",
}


def _forget(name):
    """Drop a boot-only module so the GC can free its code (MicroPython frugality)."""
    import sys
    sys.modules.pop(name, None)
    pkg, _, sub = name.rpartition(".")
    p = sys.modules.get(pkg)
    if p is not None and sub in dir(p):
        delattr(p, sub)


class Credit:
    def __init__(self, meter):
        self.m = meter
        self.b = b = meter.board
        c = meter.cfg
        self.energy = meter.energy
        self.events = meter.events
        from credit.conf import Conf      # boot-only: dropped below
        conf = Conf(c)
        self.errors = conf.errors
        meter.errors.extend(conf.errors)   # Meter.run() then keeps the relay open
        self.tariff = conf.tariff
        self.friendly = conf.friendly
        self._off = c["meter.utc_offset_min"] * 60
        self.cur = c["meter.currency"]
        self.mpm = c["meter.minor_per_major"]
        self.reconnect_min = c["credit.reconnect_min"]
        self.confirm_cfg = c["credit.reconnect_confirm"]
        self.em_amount = c["credit.emergency"]
        self.low_warn = c["credit.low_warn"]
        self.low_days = c["credit.low_days"]
        self.pct = c["credit.debt_recovery_pct"]
        self.unit = c["token.unit_minor"]
        self.q_min = c["credit.quantum_wh"]
        self.q_s = c["credit.quantum_s"]
        self.q_max = c["credit.quantum_max_wh"]
        self.window_ms = c["measure.window_ms"]
        self.pmax = c["measure.max_power_w"]
        self.L = Ledger()
        self.lim = Limiter(c["power.limit_w"], c["power.hold_s"], c["power.retry_s"],
                           c["power.retries"])
        self.gate = Gate(conf.codec, b)
        self.has_key = conf.codec is not None
        conf = Conf = None
        self.usage = Usage()
        self.manual = None        # None automatic, False held open, True held closed
        self._cut = True          # disconnected for lack of credit (hysteresis state)
        self._confirm = False     # waiting for the consumer to confirm reconnection
        self._consent = False     # consumer just acted (emergency): no confirm needed
        self._sc_day = -1         # last local day the standing charge was taken for
        self._low = False
        self.low_amount = self.low_by_days = False
        self.days_left = None
        self.friendly_now = False
        self.relay_closed = False
        self.relay_reason = "config" if self.errors else "no_credit"
        self.retry_in_s = 0
        self.restored = None      # (Wh, minor) forfeited at this boot, for the page/tests
        _forget("credit.conf")
        _forget("prepay.tariff_parse")
        self._slots = Slots(b.root + "/credit")
        self._restore(c["credit.initial"])
        self._wh = self.energy.wh
        self._day = -1
        if not self.errors:
            self.update(b.time(), 0)

    # ---- persistence ----------------------------------------------------------------
    def _restore(self, initial):
        b = self.b
        st = self._slots.load()
        L = self.L
        if st is None:
            if self._slots.corrupt:
                # both slots torn: never "first boot" again (that would re-grant credit)
                self.events.emit("state_corrupt", slots=self._slots.corrupt)
            else:
                L.credit = L.given = initial
                self.save()
            return
        try:
            if st["v"] != _VERSION:
                raise ValueError
            e = st["e"]
            L.restore(st["w"])
            self.gate.restore(st["t"], b.time(), b.rtc_valid())
            self._cut, self._confirm, self.manual = st["p"]
            self.lim.restore(st["m"])
            self.usage.restore(st["u"])
            self._sc_day = st["s"]
        except (KeyError, ValueError, TypeError, IndexError):
            self.events.emit("state_corrupt", slots=0)
            self.L = Ledger()
            return
        wh, f = L.forfeit(e[0])
        if wh:
            # power was lost with energy pre-paid: count it delivered, re-base the
            # front-end register (the PZEM counted that energy while we were down)
            self.energy.restore([L.paid_wh, 0, -1])
            self.restored = (wh, f // _UM)
            self.events.emit("restore", forfeit_wh=wh, forfeit=f // _UM)
        else:
            self.energy.restore([e[0], e[1], -1])

    def save(self):
        """Persist energy register + credit state atomically (one slot write)."""
        self._slots.save({
            "v": _VERSION, "e": self.energy.state(), "w": self.L.state(),
            "t": self.gate.state(), "p": [self._cut, self._confirm, self.manual],
            "m": self.lim.state_list(), "u": self.usage.state(), "s": self._sc_day})

    @property
    def writes(self):
        return self._slots.writes

    # ---- the metering window --------------------------------------------------------
    def update(self, utc, dt_ms):
        """Called every metering window after meter.energy was updated."""
        if self.errors:
            self.relay_closed = False
            self.relay_reason = "config"
            return
        L = self.L
        timed = self.b.rtc_valid()
        t = utc + self._off
        dirty = False
        # 1. price the energy used in this window and draw it from the reserve
        wh = self.energy.wh
        d = wh - self._wh
        self._wh = wh
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
        r = self.m.reading
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
            if debt_ok or (can and L.balance() >= self.reconnect_min):
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
        bal = self.L.balance()
        self.low_amount = bal < self.low_warn
        self.days_left = dl = self.usage.days_left(bal, t % DAY_S)
        self.low_by_days = dl is not None and dl < self.low_days
        low = self.low_amount or self.low_by_days
        if low and not self._low:
            self.events.emit("low_credit", credit=bal, days_left=dl)
        self._low = low

    # ---- consumer and owner actions --------------------------------------------------
    def enter_token(self, code):
        """Top-up code entry (page, MQTT). -> {"result": accepted|used|old|invalid|locked,
        "amount": minor units, "message": plain words, "locked_s": seconds}."""
        g = self.gate
        left = g.locked_s()
        if left:
            self.events.emit("token", result="locked", locked_s=left)
            return self._tok("locked", 0, _MSG["locked"] % left, left)
        st, value, mode, count = g.check(code)
        if st == opaygo.INVALID:
            lock = g.bad(self.b.time())
            self.save()                      # the fail count and lock survive a reboot
            self.events.emit("token", result="invalid", locked_s=lock)
            msg = _MSG["invalid" if self.has_key else "nokey"]
            if lock:
                msg += " " + _MSG["locked"] % lock
            return self._tok("invalid", 0, msg, lock)
        if st != opaygo.OK:
            res = "used" if st == opaygo.USED else "old"
            self.events.emit("token", result=res, count=count)
            return self._tok(res, 0, _MSG[res], 0)
        # authentic and fresh: only now does the code reach the money
        g.commit(count, mode)
        L = self.L
        amount = value * self.unit if mode in (opaygo.ADD, opaygo.SET) else 0
        if mode == opaygo.ADD:
            e, d = L.topup(amount, self.pct)
            msg = "Accepted: %s added." % self.money(amount)
            if e:
                msg += " %s repaid emergency credit." % self.money(e)
            if d:
                msg += " %s repaid debt." % self.money(d)
        elif mode == opaygo.SET:
            L.set_balance(amount)
            msg = "Accepted: credit set to %s." % self.money(amount)
        elif mode == opaygo.DISABLE:
            L.prepaid = False
            msg = "Accepted: prepayment is off; supply no longer depends on credit."
        else:
            msg = "Accepted: the meter's token counter is synchronised; no credit added."
        self.save()                          # persisted before we say "accepted"
        self.events.emit("token", result="accepted", amount=amount, mode=mode, count=count)
        return self._tok("accepted", amount, msg, 0)

    @staticmethod
    def _tok(result, amount, message, locked_s):
        return {"result": result, "amount": amount, "message": message, "locked_s": locked_s}

    def emergency_available(self):
        return (self.em_amount > 0 and not self.L.em_owed and not self.errors
                and self.L.balance() < max(self.low_warn, self.reconnect_min))

    def activate_emergency(self):
        if not self.emergency_available():
            why = ("Emergency credit is already in use." if self.L.em_owed else
                   "Emergency credit is not offered on this meter." if self.em_amount <= 0 else
                   "Emergency credit is available only when credit is low.")
            return {"ok": False, "message": why}
        self.L.emergency(self.em_amount)
        self._consent = True       # the consumer is here and asked for supply
        self.save()
        self.events.emit("emergency", amount=self.em_amount)
        return {"ok": True, "amount": self.em_amount,
                "message": "Emergency credit of %s activated. It is repaid from your next top-up."
                % self.money(self.em_amount)}

    def confirm_reconnect(self):
        """Consumer confirms reconnection (after a cut, or after the power limit gave up)."""
        if not (self._confirm or self.lim.state == GAVE_UP):
            return {"ok": False, "message": "Nothing to confirm."}
        self._confirm = False
        self.lim.reset()
        self.save()
        return {"ok": True, "message": "Reconnecting."}

    def set_manual(self, state):
        """Owner override: False holds the relay open, True holds it closed over the power
        limit and confirmation (never over lack of credit), None is automatic."""
        if state not in (None, True, False):
            return {"ok": False, "message": "state must be on, off or automatic"}
        if state is True and self._cut:
            return {"ok": False, "message": "No credit: supply stays off until a top-up."}
        self.manual = state
        if state is True:
            self._confirm = False
            self.lim.reset()
        self.save()
        return {"ok": True, "message": "Relay override: %s." % (
            "automatic" if state is None else "on" if state else "off")}

    # ---- views ----------------------------------------------------------------------
    def money(self, minor):
        """Display string, e.g. 123.45 INR (integer arithmetic)."""
        mpm = self.mpm
        sign = "-" if minor < 0 else ""
        minor = -minor if minor < 0 else minor
        if mpm <= 1:
            return "%s%d %s" % (sign, minor, self.cur)
        dec = len(str(mpm - 1))
        return "%s%d.%0*d %s" % (sign, minor // mpm, dec, minor % mpm, self.cur)

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
        L = self.L
        bal = L.balance()
        em = self.emergency_available()
        return {
            "credit": bal, "debt": L.debt, "net": bal - L.debt, "currency": self.cur,
            "minor_per_major": self.mpm, "days_left": self.days_left,
            "low": self.low_amount or self.low_by_days, "low_amount": self.low_amount,
            "low_days": self.low_by_days,
            "emergency_available": self.em_amount if em else 0,
            "emergency_in_use": L.em_owed,
            "relay_closed": self.relay_closed, "relay_reason": self.relay_reason,
            "retry_in_s": self.retry_in_s, "manual": self.manual,
            "friendly": self.friendly_now, "prepaid": L.prepaid,
            "lockout_s": self.gate.locked_s(), "token_count": self.gate.last,
            "state_writes": self._slots.writes, "paid_wh": L.paid_wh,
            "forfeit_wh": L.forfeit_wh, "forfeit": L.forfeit_um // _UM,
            "tariff": self.tariff.name, "rate": self.tariff.bucket(self.b.time() + self._off),
            "errors": self.errors,
        }

    def audit(self):
        """Every unit in and out, for reconciliation and tests (micro-minor where noted)."""
        L = self.L
        return {"topped": L.topped, "given": L.given, "energy_um": L.energy_um,
                "standing": L.standing, "forfeit_um": L.forfeit_um, "credit": L.credit,
                "reserve_um": L.reserve_um, "debt": L.debt, "em_owed": L.em_owed,
                "paid_wh": L.paid_wh, "wh": self.energy.wh}
