# Every meter setting in ONE table (datasette's Setting idea) and the ONE way a config
# changes, apply(): boot (device/config.py), the admin page (device/web/admin.py), MQTT
# config commands (device/sync/commands.py) and the host tools (host_tools/provision.py,
# host_tools/flash.py) all go through it, on MicroPython and CPython alike; the gateway
# takes the ranges of the meter attributes it mirrors from this table (gateway/limits.py).
# docs/config.md lists every row (tests/test_docs.py checks it against this table). The help
# text of each setting is the comment beside it, which costs no RAM on the meter once
# compiled. config.json holds only what differs from the defaults. The meter loads this
# module only to check or change a config and drops it again.
#
# A row is (key, default, lo, hi, access):
#   - type: the type of the default is the type the value must have (bool and int are
#     distinct; an int is accepted where the default is a float);
#   - range: numbers must lie in lo..hi, strings have lo..hi characters; hi None = no upper
#     bound; None, None = no range (bool, tariff, lists: checked by _rules and the tariff
#     parser);
#   - access, one letter each: "c" the consumer may change it on the admin page (behind the
#     PIN), "p" the consumer changes it with the admin page's PIN form, "v" the admin page
#     shows it read-only, "s" secret (write-only: never shown, only whether it is set), "m" an
#     MQTT config command may change it. The installer (provisioning, flashing) may set
#     every setting.

# What can be wrong with a config (a tariff's problems included) is data, (key, code,
# values), its English text in prepay/problems.py: apply() and validate() make each with
# their `say`, text (English) or problem (the triple the meter's page translates).
from prepay.problems import english, problem, text  # noqa: F401 (the meter imports them here)

# The one id check, for the meter, the gateway and the host tools alike: a meter id (also
# the name of a tariff or billing plan on the gateway) is 1-32 of [a-z0-9-], because it is
# the meter's MQTT username and a topic segment (docs/protocol.md). It lives beside the
# meter.id row rather than in a module of its own: one module fewer for the meter to load.
ID_MAX = 32
ID_PATTERN = "^[a-z0-9-]{1,32}$"   # the same rule as a JSON-schema pattern (the OpenAPI)


def valid_id(s):
    if not isinstance(s, str) or not 0 < len(s) <= ID_MAX:
        return False
    for c in s:
        if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-"):
            return False
    return True


SETTINGS = (
    # identity
    ("meter.id", "", 1, ID_MAX, "v"),  # Meter id: [a-z0-9-]{1,32}; the MQTT username and topic segment.
    ("meter.utc_offset_min", 0, -720, 840, "vm"),  # Local time offset from UTC in minutes, for tariff windows.
    ("meter.currency", "INR", 3, 3, "vm"),  # ISO 4217 currency of all money amounts.
    ("meter.minor_per_major", 100, 1, 10000, "vm"),  # Minor units per major unit (paise per rupee).
    # metering front-end
    ("measure.source", "", 0, 6, "m"),  # Front-end: 'pzem' or 'analog'; empty means the board's default.
    ("measure.window_ms", 1000, 100, 3600000, "m"),  # Metering window in meter milliseconds.
    ("measure.stale_after", 3, 1, 1000, "m"),  # Consecutive failed reads after which a reading is marked stale.
    ("measure.max_power_w", 25000, 100, 1000000, "cm"),  # Above this a reading or energy jump is implausible and not billed.
    ("pzem.address", 1, 1, 247, "m"),  # PZEM-004T Modbus slave address (1..247).
    ("pzem.uart", "", 0, 64, "m"),  # unix_sim only: pty path of the PZEM simulator.
    ("pzem.timeout_ms", 200, 10, 10000, "m"),  # Modbus response timeout in real (not meter) milliseconds.
    ("analog.vcal", 0.0, 0, 10, "cm"),  # Volts per ADC count (0 = board default).
    ("analog.ical", 0.0, 0, 10, "cm"),  # Amps per ADC count (0 = board default).
    ("analog.phasecal", 0.0, -10, 10, "cm"),  # Phase correction between V and I channels (0 = board default).
    ("analog.icreep", 0.0, 0, 100, "m"),  # Current (A RMS) below which the analog front-end reads 0 A and 0 W: just above the ADC noise, so an idle circuit bills nothing (0 = board default).
    ("analog.cycles", 10, 1, 100, "m"),  # Mains cycles per analog measurement window.
    # tariff and credit (see docs/tariffs.md)
    ("tariff", {}, None, None, "m"),  # Tariff definition (docs/tariffs.md).
    ("credit.initial", 0, 0, None, "m"),  # Credit (minor units) given once at first boot, when no state exists.
    ("credit.quantum_wh", 10, 1, 100000, "m"),  # Smallest pre-debit quantum (Wh): energy paid for before it is used.
    ("credit.quantum_s", 60, 1, 3600, "m"),  # Pre-debit quantum sized to this many seconds of use at the present power.
    ("credit.quantum_max_wh", 0, 0, 1000000, "m"),  # Largest pre-debit quantum (Wh); 0 = no cap (docs/relay.md).
    ("credit.reconnect_min", 100, 0, None, "vm"),  # Credit (minor units) needed before the relay reconnects.
    ("credit.reconnect_confirm", False, None, None, "vm"),  # Reconnection needs the consumer to confirm on the page.
    ("credit.emergency", 0, 0, None, "vm"),  # Emergency credit (minor units) the consumer may activate once.
    ("credit.low_warn", 5000, 0, None, "vm"),  # Low-credit warning level (minor units).
    ("credit.low_days", 3, 0, 365, "vm"),  # Low-credit warning when estimated days left fall below this.
    ("credit.debt_recovery_pct", 25, 0, 100, "vm"),  # Share of each top-up that repays debt.
    ("credit.friendly", [], None, None, "vm"),  # Friendly-credit windows: no disconnection (docs/tariffs.md).
    ("power.limit_w", 0, 0, 1000000, "cm"),  # Maximum-power limit in W; 0 disables it.
    ("power.hold_s", 10, 1, 86400, "cm"),  # Seconds over the limit before the relay trips.
    ("power.retry_s", 60, 5, 86400, "cm"),  # Seconds before reconnecting after a power-limit trip.
    ("power.retries", 3, 0, 1000, "cm"),  # Automatic reconnections after power-limit trips; the next trip gives up until the consumer resets.
    # power quality (device/measure/quality.py; docs/config.md): 0 turns a limit off
    ("pq.v_sag", 195.5, 0, 1000, "m"),  # Voltage sag: below this (V) for at least pq.short_ms.
    ("pq.v_swell", 264.5, 0, 1000, "m"),  # Voltage swell: above this (V) for at least pq.short_ms.
    ("pq.v_under", 207.0, 0, 1000, "m"),  # Under-voltage: below this (V) for at least pq.long_s.
    ("pq.v_over", 253.0, 0, 1000, "m"),  # Over-voltage: above this (V) for at least pq.long_s.
    ("pq.v_hyst", 2.0, 0, 100, "m"),  # A voltage condition ends only this far (V) back inside its limit.
    ("pq.hz_min", 49.0, 0, 100, "m"),  # Frequency below this (Hz) for at least pq.long_s is an event.
    ("pq.hz_max", 51.0, 0, 100, "m"),  # Frequency above this (Hz) for at least pq.long_s is an event.
    ("pq.hz_hyst", 0.1, 0, 10, "m"),  # A frequency condition ends only this far (Hz) back inside its limit.
    ("pq.i_max", 0.0, 0, 1000, "m"),  # Over-current: above this (A) for at least pq.long_s; 0 = off.
    ("pq.i_hyst", 0.5, 0, 100, "m"),  # An over-current condition ends only this far (A) below pq.i_max.
    ("pq.short_ms", 1000, 0, 60000, "m"),  # Minimum duration (meter ms) of a sag or swell.
    ("pq.long_s", 60, 0, 3600, "m"),  # Minimum duration (meter s) of over- and under-voltage, frequency and over-current.
    # tokens (see docs/tokens.md)
    ("token.key", "", 0, 32, "s"),  # OpenPAYGO secret key, 32 hex digits.
    ("token.starting_code", 0, 0, 999999999, ""),  # OpenPAYGO starting code (9 digits); 0 = derived from the key, as the reference does.
    ("token.unit_minor", 100, 1, 100000000, "v"),  # Credit (minor units) per token value unit.
    ("token.digits", 9, 9, 12, "v"),  # Token variant: 9 (standard) or 12 (extended); each also as its 1-4 digit-set form.
    ("token.max_jump", 64, 1, 64, ""),  # How far ahead of the last count a token may be (1..64); lower = fewer false accepts.
    # journal and sync (see docs/protocol.md)
    ("journal.interval_s", 60, 1, 86400, "m"),  # Interval record length in seconds.
    ("journal.segments", 16, 2, 256, "m"),  # Number of rotating journal segment files.
    ("journal.segment_records", 700, 10, 100000, "m"),  # Records per journal segment.
    ("mqtt.host", "", 0, 64, "cm"),  # Broker host; empty disables sync.
    ("mqtt.port", 1883, 1, 65535, "cm"),  # Broker port.
    ("mqtt.user", "", 0, 32, "c"),  # MQTT username (defaults to meter.id).
    ("mqtt.password", "", 0, 64, "cs"),  # MQTT password (per meter).
    ("mqtt.prefix", "pm", 1, 16, "cm"),  # Topic prefix: <prefix>/<meter>/...
    ("mqtt.keepalive_s", 30, 1, 65535, "m"),  # MQTT keepalive in real seconds.
    ("mqtt.tele_s", 10, 1, 86400, "cm"),  # Live telemetry period in meter seconds.
    ("mqtt.batch", 50, 1, 255, "m"),  # Records per backlog message.
    ("mqtt.timeout_ms", 80, 10, 80, "m"),  # Socket budget of one sync turn: all its MQTT socket waits between two yields together (at most 80, so a hung broker stalls metering < 100 ms).
    ("mqtt.tls", False, None, None, "m"),  # Connect over TLS, verifying the broker's certificate against mqtt.ca (docs/broker.md).
    ("mqtt.ca", "", 0, 64, "m"),  # File on the meter's flash (relative to its root) holding the CA certificate, PEM or DER; required with mqtt.tls.
    ("wifi.ssid", "", 0, 32, "cm"),  # WiFi network name.
    ("wifi.password", "", 0, 64, "csm"),  # WiFi password.
    ("wifi.ap_password", "", 0, 64, "sm"),  # WPA2 password of the meter's own setup access point meter-<id>, up while wifi.ssid is empty (per meter, from provisioning); empty: no setup access point.
    ("ntp.host", "pool.ntp.org", 0, 64, "m"),  # NTP server (name or address) the clock is set from while the network is up; empty: the gateway's time only.
    ("wdt.timeout_s", 60, 0, 600, "m"),  # Hardware watchdog timeout in real seconds (0: off): fed only while every essential task made progress within half of it.
    ("ntp.timeout_ms", 80, 10, 80, "m"),  # How long one NTP query may wait for its answer (it blocks the event loop that long at most: under 100 ms).
    # local web page (see docs/web.md)
    ("web.port", 80, 0, 65535, "m"),  # HTTP port of the consumer page; 0 disables it.
    ("web.pin_hash", "", 0, 64, "ps"),  # sha256 hex of salt+PIN for admin settings.
    ("web.pin_salt", "", 0, 32, "ps"),  # Salt for the admin PIN hash.
    ("web.lang", "", 0, 5, "cm"),  # Page language (a shipped catalogue: en, hi, sw); empty: the browser's language, else English. The consumer may pick another on the page.
    ("consumer.name", "", 0, 40, "vm"),  # Consumer's name, shown on the page when set.
    ("consumer.account", "", 0, 32, "vm"),  # Consumer's account number, shown on the page when set.
    ("consumer.buy", "", 0, 160, "vm"),  # How to buy a top-up code (vendor, phone number, USSD code), shown under the top-up field when set.
    ("web.hosts", [], None, None, "m"),  # Host names the page also answers to, besides the board's address and meter-<id>.local (docs/web.md): up to 8, each 1-64 of [a-z0-9.-], no port.
)

# who is changing a config: the access letter each key needs ("" = the installer: any key)
INSTALLER = ""
CONSUMER = "c"
PIN = "p"
MQTT = "m"
_HEX = "0123456789abcdefABCDEF"
TOKEN_DIGITS = (9, 12)   # token.digits: standard or extended OpenPAYGO
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-."  # a DNS name or IPv4 address: web.hosts


def row(key):
    for r in SETTINGS:
        if r[0] == key:
            return r
    return None


def keys_of(changes):
    """The setting keys a nested partial config names: {"mqtt": {"host": ..}} -> mqtt.host."""
    out = []
    for sec, body in changes.items():
        if isinstance(body, dict) and sec != "tariff":
            out.extend(sec + "." + k for k in body)
        else:
            out.append(sec)
    return out


def merge(doc, upd):
    """Merge a nested partial config into doc (sections merged, values replaced)."""
    for sec, body in upd.items():
        if isinstance(body, dict) and sec != "tariff" and isinstance(doc.get(sec), dict):
            doc[sec].update(body)
        else:
            doc[sec] = body
    return doc


def apply(doc, changes, who=INSTALLER, say=text):
    """The one way a config changes. Merge the nested partial config `changes` into a copy of
    the nested config `doc` if `who` may change every key it names and the WHOLE result
    validates (validate(): everything that could put the meter into its config-error
    state). -> (new doc, cfg, errors): with errors, new doc is doc unchanged and cfg is
    validate()'s view of the refused result (None when a key was not `who`'s to change).
    Boot applies config.json to {} as the installer. `say` makes each error (text: English;
    problem: the triple a page translates)."""
    if not isinstance(changes, dict):
        cfg, errors = validate(changes, say)    # says so, with what the defaults lack
        return doc, cfg, errors
    names = keys_of(changes)
    errors = []
    if who:                         # a change from a channel; boot applies a whole file
        if not names:
            return doc, None, [say("", "nothing")]
        for key in names:
            r = row(key)
            if r is not None and who not in r[4]:
                errors.append(say(key, "mqtt" if who == MQTT else "here"))
        if errors:
            return doc, None, errors
    new = {}
    for sec, body in doc.items():     # a copy, sections too: doc stays as it was on errors
        new[sec] = dict(body) if isinstance(body, dict) and sec != "tariff" else body
    merge(new, changes)
    cfg, errors = validate(new, say)
    return (doc if errors else new), cfg, errors


def defaults():
    return {r[0]: r[1] for r in SETTINGS}


def _flatten(doc, errors, say):
    flat = {}
    if not isinstance(doc, dict):
        errors.append(say("config", "object"))
        return flat
    for sec, body in doc.items():
        if isinstance(body, dict) and sec != "tariff":
            for k, v in body.items():
                flat[sec + "." + k] = v
        else:
            flat[sec] = body
    return flat


def validate(doc, say=text):
    """Return (cfg, errors): cfg is the flat dict of every setting (cfg["mqtt.host"]), a
    plain dict so nothing of this module stays alive once the meter drops it; errors is a
    list of problems made by `say` (text: English strings), at most one per setting (the
    tariff and friendly windows may give several). Unknown keys are errors, not ignored."""
    errors = []
    values = defaults()
    bad = set()             # settings already in error: one message each
    for key, v in _flatten(doc, errors, say).items():
        if key not in values:
            errors.append(say(key, "unknown"))
            continue
        d = values[key]
        if not (type(v) is type(d) or (type(d) is float and type(v) is int)):
            errors.append(say(key, "type", type(d).__name__, type(v).__name__))
            bad.add(key)
            continue
        values[key] = v
    for key, d, lo, hi, _ in SETTINGS:
        if lo is None or key in bad:
            continue
        v = values[key]
        e = None
        if type(d) is str:
            n = len(v)
            if key == "meter.id":
                if not valid_id(v):
                    e = say(key, "id", lo, hi)
            elif not lo <= n <= hi:
                e = say(key, "len", lo, hi, n)
        elif hi is None:
            if v < lo:
                e = say(key, "min", lo, v)
        elif not lo <= v <= hi:
            e = say(key, "range", lo, hi, v)
        if e:
            errors.append(e)
            bad.add(key)
    _rules(values, bad, errors, say)
    if values["tariff"] or values["credit.friendly"]:   # (no tariff, no windows: valid)
        from prepay.tariff import policy   # the same code the credit module builds with
        found = []
        policy(values["tariff"], values["credit.friendly"], found)
        for key, code, vals in found:
            errors.append(say(key, code, *vals))
    if not values["mqtt.user"]:
        values["mqtt.user"] = values["meter.id"]
    return values, errors


def _rules(v, bad, errors, say):
    """The checks a lo..hi range cannot say (skipped for a setting already in error)."""
    def err(key, code):
        if key not in bad:
            errors.append(say(key, code))
            bad.add(key)
    if v["measure.source"] not in ("", "pzem", "analog"):
        err("measure.source", "source")
    p = v["mqtt.prefix"]
    if "/" in p or "#" in p or "+" in p:
        err("mqtt.prefix", "prefix")
    if 0 < len(v["wifi.password"]) < 8:
        err("wifi.password", "wifi_pw")
    if 0 < len(v["wifi.ap_password"]) < 8:
        err("wifi.ap_password", "ap_pw")
    if v["token.digits"] not in TOKEN_DIGITS:
        err("token.digits", "digits")
    k = v["token.key"]
    if k and (len(k) != 32 or any(c not in _HEX for c in k)):
        err("token.key", "hex")
    hosts = v["web.hosts"]
    if len(hosts) > 8 or not all(isinstance(h, str) and 0 < len(h) <= 64
                                 and all(c in _HOST_CHARS for c in h) for h in hosts):
        err("web.hosts", "hosts")
    if v["mqtt.tls"] and not v["mqtt.ca"]:
        err("mqtt.ca", "ca")
