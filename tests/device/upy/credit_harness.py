# Builds the parts of a Meter that credit.core.Credit uses, from the real modules (config
# validation, unix_sim Board, Events, Reading, Energy), without the front-end, journal or
# sync, so policy scenarios can drive meter time directly. Runs under MicroPython.
import gc
import os

from lazy import forget

from board import Board
from events import Events
from measure.reading import Reading, OK
from measure.energy import Energy

KEY = "bc41ec9530f6dac86b1a29ab82edc5fb"
START = 516959010
T0 = 1737331200          # 2025-01-20 00:00 UTC, a Monday


class Parts:
    pass


def wipe(root):
    for n in os.listdir(root):
        try:
            os.remove(root + "/" + n)
        except OSError:
            pass


def meter(doc, fresh=False):
    """A meter-like object with a Credit on it; fresh=True wipes the flash dir first.
    Drop the previous one first (m = None): a second Credit is a reboot."""
    gc.collect()
    b = Board()
    if fresh:
        wipe(b.root)
        b = Board()
    m = Parts()
    m.board = b
    d = {"meter": {"id": "t1"}}
    for k in doc:
        d[k] = doc[k]
    # the settings table is boot-only on the meter (device/meter_setup.py drops it): kept
    # here for the whole run it fragmented the 128k heap until a reboot's Credit found no
    # block for its state (once the meter's week and the tariff problems' table were in)
    from prepay.settings import validate
    m.cfg, m.errors = validate(d)
    validate = None
    forget("prepay.settings")
    forget("prepay.problems")
    gc.collect()
    m.events = Events(b)
    m.reading = Reading()
    m.energy = Energy(m.cfg["measure.max_power_w"])
    m.kinds = []
    m.events.add_sink(lambda ev: m.kinds.append(ev))
    from credit.setup import from_config
    m.credit, restored = from_config(m.cfg, m.errors, b, m.events, m.energy.state)
    if restored:                # as the meter does at boot
        m.energy.restore(restored)
    m.credit.step(b.time(), 0, m.energy.wh, m.reading)
    m.utc = T0
    return m


def step(m, utc, dt_ms):
    """One credit step as the metering task takes it (a settled register re-bases energy)."""
    d = m.credit.step(utc, dt_ms, m.energy.wh, m.reading)
    if d.rebase:
        m.energy.rebase(d.rebase)
    return d


def run(m, seconds, p_w, dt_ms=1000, reg=None):
    """Drive `seconds` of meter time at load p_w, only while the relay is closed
    (as the real loop does: credit.step then board.relay). reg: a list [Wh, mWs] that
    plays a front-end's own energy register (PZEM) instead of integrating power."""
    r = m.reading
    r.status = OK
    c = m.credit
    n = seconds * 1000 // dt_ms
    for _ in range(n):
        p = p_w if c.relay_closed else 0.0
        r.p = p
        if reg is None:
            m.energy.add_power(p, dt_ms)
        else:
            reg[1] += int(p * dt_ms)
            reg[0] += reg[1] // 3600000
            reg[1] %= 3600000
            r.register_wh = reg[0]
            m.energy.add_register(reg[0], dt_ms)
        m.utc += dt_ms // 1000
        m.board.relay(step(m, m.utc, dt_ms).closed)


def events(m, kind):
    return [e for e in m.kinds if e["kind"] == kind]


def token(value, count, mode=1, extended=False, key=KEY, start=START):
    from prepay.opaygo import Codec
    return Codec(key, start, extended).encode(value, count, mode)
