# The credit stage built at boot: its settings from the config, the tariff parsed, its state
# restored from flash. Boot-only code that the meter's boot (meter_setup.py) loads, runs once
# and drops: resident it would cost 2.1 KB of the loose bundle's 32-bit heap, which the
# loose soak at 120k needs (tests/bench/bench_forget_sites.py).
from prepay.tariff import policy
from lazy import forget
from state_file import StateFile
from credit.core import Credit, VERSION
from credit.ledger import Ledger
from credit.limiter import Limiter
from credit.tokens import Gate
from credit.usage import Usage
from credit.days import Days
from prepay.history import History
import gc


def from_config(cfg, errors, board, events, energy_state):
    """-> (the Credit, the energy register restored from flash as [Wh, mWs, -1], or None on
    a first boot): what the energy stage restores before the first step. `errors`: the
    config's errors; a tariff error found here is added to it (the relay then stays open)."""
    c = cfg
    # the tariff and friendly windows, built by the same code that validated them
    # (prepay.settings.validate); the parser it loads, prepay.tariff_parse with
    # prepay.civil and prepay.problems, is boot-only: dropping it saves 6.8 KB of the loose
    # bundle's 32-bit heap (tests/bench/bench_forget_sites.py)
    errs = []
    tariff, friendly = policy(c["tariff"], c["credit.friendly"], errs)
    forget("prepay.tariff_parse")
    forget("prepay.civil")
    forget("prepay.problems")
    gc.collect()
    # none once config.validate passed (it runs the same policy(), so it found them
    # already); kept safe regardless: they are problem triples already
    if not errors:
        errors.extend(errs)
    ledger = Ledger()
    limiter = Limiter(c["power.limit_w"], c["power.hold_s"], c["power.retry_s"],
                      c["power.retries"])
    gate = Gate("" if errors else c["token.key"], c["token.starting_code"],
                c["token.digits"] == 12, c["token.max_jump"], board)
    usage = Usage()
    slots = StateFile(board.root + "/credit")
    # the state on flash (the newest intact slot); none: a first boot, with the relay cut
    # until the policy's first step
    got = load(slots, VERSION, ledger, gate, limiter, usage, board)
    policy_state, sc_day, pending, wh, restored = [True, False, None], -1, None, 0, None
    first = got is None and not slots.corrupt
    if got is None and slots.corrupt:
        # both slots torn: never "first boot" again (that would re-grant credit)
        events.emit("state_corrupt", slots=slots.corrupt)
    elif got is False:
        events.emit("state_corrupt", slots=0)
        ledger = Ledger()
    elif got:
        policy_state, sc_day, e = got
        head = ledger.paid_wh - e[0]
        if head > 0:
            # the power went with energy pre-paid ahead of the register: what was used of
            # it is settled at the first fresh reading (Credit._settle_restore); meanwhile
            # the front-end register is re-based and the relay stays open
            pending = (e[0], e[2], head)
        else:
            ledger.paid_wh = e[0]
        restored = [e[0], e[1], -1]
        wh = e[0]
    if first:
        ledger.credit = ledger.given = c["credit.initial"]
    cr = Credit(board, events, energy_state, errors, tariff, friendly,
                c["meter.utc_offset_min"] * 60, c["meter.currency"], c["meter.minor_per_major"],
                c["credit.reconnect_min"], c["credit.reconnect_confirm"], c["credit.emergency"],
                c["credit.low_warn"], c["credit.low_days"], c["credit.debt_recovery_pct"],
                c["token.unit_minor"], c["credit.quantum_wh"], c["credit.quantum_s"],
                c["credit.quantum_max_wh"], c["measure.window_ms"], c["measure.max_power_w"],
                ledger, limiter, gate, usage, week(board.root), slots, policy_state, sc_day,
                pending, wh)
    if first:
        cr.save()           # the initial credit, given once
    return cr, restored


def week(root):
    """-> the Days estimate with its week of hourly Wh restored from flash (credit/days.py
    saves it), read into the week's own ring. None there (a first boot, or older firmware,
    which kept no week): an empty week; a torn or unreadable one counts in its slots'
    `corrupt` and starts empty too."""
    hours = History()
    slots = StateFile(root + "/hours", hours.wh, 4 * len(hours.wh))   # 4-byte slots
    st = slots.load()
    if st:
        try:
            hours.first, hours.last = st["s"]
        except (KeyError, ValueError, TypeError):
            slots.corrupt += 1
            st = None
    if st is None and slots.corrupt:    # the ring holds what was read: start it empty
        wh = hours.wh
        for k in range(len(wh)):
            wh[k] = 0
        hours.first = hours.last = -1
    return Days(hours, slots)


def load(slots, version, ledger, gate, limiter, usage, board):
    """-> None: no state (first boot, or both slots torn: slots.corrupt says which);
    False: unreadable (wrong version or layout; the parts may be half restored);
    else ([cut, confirm, manual], standing-charge day, [Wh, mWs, front-end Wh])."""
    st = slots.load()
    if st is None:
        return None
    try:
        if st["v"] != version:
            raise ValueError
        e = st["e"]
        ledger.restore(st["w"])
        gate.restore(st["t"], board.time(), board.rtc_valid())
        cut, confirm, manual = st["p"]
        limiter.restore(st["m"])
        usage.restore(st["u"])
        return [cut, confirm, manual], st["s"], e
    except (KeyError, ValueError, TypeError, IndexError):
        return False
