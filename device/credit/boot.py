# Boot-only part of Credit: settings (checked by credit.conf), the parts, and the state
# restored from flash. Loaded once by Credit.__init__, then dropped.
from slots import Slots
from credit.conf import Conf


def setup(cr, meter, Ledger, Limiter, Gate, Usage):
    c = meter.cfg
    b = meter.board
    conf = Conf(c)
    cr.errors = conf.errors
    meter.errors.extend(conf.errors)   # Meter.run() then keeps the relay open
    cr.tariff = conf.tariff
    cr.friendly = conf.friendly
    cr._off = c["meter.utc_offset_min"] * 60
    cr.cur = c["meter.currency"]
    cr.mpm = c["meter.minor_per_major"]
    cr.reconnect_min = c["credit.reconnect_min"]
    cr.confirm_cfg = c["credit.reconnect_confirm"]
    cr.em_amount = c["credit.emergency"]
    cr.low_warn = c["credit.low_warn"]
    cr.low_days = c["credit.low_days"]
    cr.pct = c["credit.debt_recovery_pct"]
    cr.unit = c["token.unit_minor"]
    cr.q_min = c["credit.quantum_wh"]
    cr.q_s = c["credit.quantum_s"]
    cr.q_max = c["credit.quantum_max_wh"]
    cr.window_ms = c["measure.window_ms"]
    cr.pmax = c["measure.max_power_w"]
    cr.L = Ledger()
    cr.lim = Limiter(c["power.limit_w"], c["power.hold_s"], c["power.retry_s"],
                     c["power.retries"])
    cr.gate = Gate(c["token.key"] if conf.key_ok else "", c["token.starting_code"],
                   c["token.digits"] == 12, c["token.max_jump"], b)
    cr.usage = Usage()
    cr.manual = None        # None automatic, False held open, True held closed
    cr._cut = True          # disconnected for lack of credit (hysteresis state)
    cr._confirm = False     # waiting for the consumer to confirm reconnection
    cr._consent = False     # consumer just acted (emergency): no confirm needed
    cr._sc_day = -1         # last local day the standing charge was taken for
    cr._low = False
    cr.low_amount = cr.low_by_days = False
    cr.days_left = None
    cr.friendly_now = False
    cr.relay_closed = False
    cr.relay_reason = "config" if cr.errors else "no_credit"
    cr.retry_in_s = 0
    cr.restored = None      # [used Wh, forfeited Wh, forfeited minor] after a power loss
    cr._pending = None      # (register Wh, front-end register, Wh pre-paid) to settle
    cr._slots = Slots(b.root + "/credit")
    restore(cr, c["credit.initial"], Ledger)


def restore(cr, initial, Ledger):
    from credit.core import VERSION
    b = cr.b
    slots = cr._slots
    st = slots.load()
    L = cr.L
    if st is None:
        if slots.corrupt:
            # both slots torn: never "first boot" again (that would re-grant credit)
            cr.events.emit("state_corrupt", slots=slots.corrupt)
        else:
            L.credit = L.given = initial
            cr.save()
        return
    try:
        if st["v"] != VERSION:
            raise ValueError
        e = st["e"]
        L.restore(st["w"])
        cr.gate.restore(st["t"], b.time(), b.rtc_valid())
        cr._cut, cr._confirm, cr.manual = st["p"]
        cr.lim.restore(st["m"])
        cr.usage.restore(st["u"])
        cr._sc_day = st["s"]
    except (KeyError, ValueError, TypeError, IndexError):
        cr.events.emit("state_corrupt", slots=0)
        cr.L = Ledger()
        return
    head = L.paid_wh - e[0]
    if head > 0:
        # the power went with energy pre-paid ahead of the register: what was used of it
        # is settled at the first fresh reading (Credit._settle_restore); meanwhile the
        # front-end register is re-based and the relay stays open
        cr._pending = (e[0], e[2], head)
    else:
        L.paid_wh = e[0]
    cr.energy.restore([e[0], e[1], -1])
