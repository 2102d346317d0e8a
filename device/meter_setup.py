# The meter's stages, built from config.json at boot: device/meter.py boot() loads this
# once and drops it (resident this code would cost 2.6 KB of the loose bundle's 32-bit heap,
# which the loose soak at 120k needs). stages() returns the Meter's constructor arguments,
# built in the order that keeps boot's peak low (each phase's leftovers collected before the
# next phase's code loads); finish() adds what needs the Meter itself (sync).
import gc
import os

from events import Events
from measure.reading import Reading
from measure.energy import Energy
from lazy import forget

_CAUSES = ("", "power-on", "hard", "wdt", "deep sleep", "soft")   # machine.*_RESET 1..5
_said = ""   # the config errors in English, from stages() for finish()'s event


def stages(board):
    """-> the Meter's constructor arguments (device/meter.py), its stages built from
    config.json in the order that keeps boot's peak low."""
    events = Events(board)
    import config
    # config.json, or the last known good copy when config.json is invalid (fallback:
    # config.json's errors, sent as the config_fallback event once sync is up)
    # errors: problem triples (key, code, values), which the page says in the consumer's
    # language; the console, the events and the status say them in English
    from prepay.settings import english, problem
    cfg, errors, fallback = config.boot(board.root, problem)
    fallback = [english(e) for e in fallback]
    global _said
    _said = "; ".join(english(e) for e in errors)
    for e in errors:
        print("config error:", english(e))
    english = problem = None
    # boot-only: the settings table and validator (config updates and the admin page
    # import them again); resident they cost 13.9 KB of the loose bundle's 32-bit heap
    # (tests/bench/bench_forget_sites.py)
    config.unload()         # validation's parser too: the credit stage loads it again
    config = None
    gc.collect()            # before the front-end's code loads into what they held
    energy = Energy(cfg["measure.max_power_w"])
    st = {"board": board, "events": events, "cfg": cfg, "errors": errors,
          "fallback": fallback, "reading": Reading(), "energy": energy, "src": None,
          "credit": None, "net": None, "dns": None, "clock": None, "journal": None,
          "history": None}  # no network configured: no net, dns, clock (nor their code)
    if errors:
        st["reset_cause"], st["stalled"] = _boot_cause(board)
        _start_net(st)
        board.relay(False)  # safe state: no supply without a valid config
        # ... but the utility can still repair it over MQTT when the settings sync
        # needs are sound (finish() starts sync with the journal): tokens and relay
        # commands are refused meanwhile
        if cfg["mqtt.host"] and not any(
                e[0].startswith(("config", "meter.id", "mqtt.", "journal.")) for e in errors):
            _start_journal(st)
        return st
    st["src"] = _source(board, cfg)
    # Boot-only work (state restore and tariff parsing inside Credit, the journal scan)
    # runs while as little else is resident as possible, and each phase's leftovers are
    # collected before the next phase's code loads: on a 128k heap that is what decides
    # whether boot fits.
    gc.collect()                        # config's leftovers, before credit's boot peak
    from credit import setup
    cr, restored = setup.from_config(cfg, errors, board, events, energy.state)
    setup = None
    forget("credit.setup")
    if restored:                        # the register is saved with the credit state
        energy.restore(restored)
    cr.step(board.time(), 0, energy.wh, st["reading"])   # the relay's boot decision
    st["credit"] = cr
    gc.collect()
    st["reset_cause"], st["stalled"] = _boot_cause(board)   # sync's boot event tells
    if cfg["wifi.ssid"] or cfg["wifi.ap_password"] or cfg["mqtt.host"]:
        _start_net(st)                 # after the credit's boot peak, not adding to it
    _start_journal(st)
    return st


def finish(m, meter_version):
    """Once the Meter `m` exists: its sync (which calls back its telemetry and describe)
    when MQTT is configured and the journal was built for it, and the boot's events."""
    cfg = m.cfg
    if cfg["mqtt.host"] and m.journal:
        from sync import setup
        from remote import Remote
        b = m.board
        m.sync = setup.from_config(cfg, b, m.net, m.dns, m.journal, m.events,
                                   Remote(b, m.credit, m.clock, m.events, m.journal),
                                   m.telemetry, m.describe)
        setup = None
        forget("sync.setup")
        m.events.emit("boot", fw=meter_version, boot=m.journal.boots, reset=m.reset_cause,
                      stalled=m.stalled)
    if m.errors:
        if m.sync:
            m.events.emit("config_error", n=len(m.errors),
                          errors=_said[:120])
    elif m.fallback:
        m.events.emit("config_fallback", n=len(m.fallback),
                      errors="; ".join(m.fallback)[:120])


def _start_net(st):
    from net import Net     # the link (joins and rejoins the WiFi); sync asks it
    b, c = st["board"], st["cfg"]
    net = st["net"] = Net(b, c["wifi.ssid"], c["wifi.password"], "meter-" + c["meter.id"],
                          c["wifi.ap_password"])
    from dns import Resolver  # names to addresses without blocking: sync's and NTP's
    dns = st["dns"] = Resolver(net)
    from clock import Clock  # NTP while the link is up; the gateway's time as fallback
    st["clock"] = Clock(b, net, dns, st["events"], c["ntp.host"], c["ntp.timeout_ms"])


def _boot_cause(board):
    """(why this boot happened in words, the task that starved the watchdog or ""): the
    latter from the note device/watchdog.py left before the reset, consumed here."""
    c = board.reset_cause()
    cause = _CAUSES[c] if 0 < c < len(_CAUSES) else "reset %d" % c
    path = board.root + "/wdt_why"
    try:
        with open(path) as f:
            why = f.read()[:16]
        os.remove(path)
    except OSError:
        why = ""
    if cause != "wdt":
        return cause, ""
    return cause, why or "event loop"   # no note: a blocking call held everything


def _start_journal(st):
    from journal.journal import Journal
    cfg = st["cfg"]
    st["journal"] = Journal(cfg, st["board"], st["events"])
    cr = st["credit"]
    if cfg["web.port"] and cr:   # the page's history; without a page, no one sees it
        from energy_history import EnergyHistory   # its hours: the credit stage's week
        st["history"] = EnergyHistory(st["board"].root, cfg["meter.utc_offset_min"],
                                      cr.days.hours)
    gc.collect()


def _source(board, c):
    import board as bmod
    kind = c["measure.source"] or bmod.SOURCE
    if kind == "pzem":
        from measure.pzem import Pzem
        return Pzem(board.uart(c["pzem.uart"] or None, c["pzem.timeout_ms"]),
                    board, c["pzem.address"], c["pzem.timeout_ms"], c["measure.stale_after"])
    from measure.analog import Analog
    cal = dict(bmod.CAL)
    for k in ("vcal", "ical", "phasecal", "icreep"):
        if c["analog." + k]:
            cal[k] = c["analog." + k]
    return Analog(board.adc(), cal, bmod.SAMPLE_RATE, c["analog.cycles"],
                  c["measure.stale_after"])
