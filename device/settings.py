# Every meter setting with its default, in one place (datasette's Setting idea). The help
# text for each is the comment beside it, which costs no RAM on the meter once compiled;
# docs/config.md documents every key (tests/test_docs.py fails on an undocumented one).
# config.json holds only what differs from these. The type of the default is the type the
# value must have (bool and int are distinct). The meter drops this module after boot.
SETTINGS = (
    # identity
    ("meter.id", ""),  # Meter id: [a-z0-9-]{1,32}; the MQTT username and topic segment.
    ("meter.utc_offset_min", 0),  # Local time offset from UTC in minutes, for tariff windows.
    ("meter.currency", "INR"),  # ISO 4217 currency of all money amounts.
    ("meter.minor_per_major", 100),  # Minor units per major unit (paise per rupee).
    # metering front-end
    ("measure.source", ""),  # Front-end: 'pzem' or 'analog'; empty means the board's default.
    ("measure.window_ms", 1000),  # Metering window in meter milliseconds.
    ("measure.stale_after", 3),  # Consecutive failed reads after which a reading is marked stale.
    ("measure.max_power_w", 25000),  # Above this a reading or energy jump is implausible and not billed.
    ("pzem.address", 1),  # PZEM-004T Modbus slave address (1..247).
    ("pzem.uart", ""),  # unix_sim only: pty path of the PZEM simulator.
    ("pzem.timeout_ms", 200),  # Modbus response timeout in real (not meter) milliseconds.
    ("analog.vcal", 0.0),  # Volts per ADC count (0 = board default).
    ("analog.ical", 0.0),  # Amps per ADC count (0 = board default).
    ("analog.phasecal", 0.0),  # Phase correction between V and I channels (0 = board default).
    ("analog.icreep", 0.0),  # Current (A RMS) below which the analog front-end reads 0 A and 0 W: just above the ADC noise, so an idle circuit bills nothing (0 = board default).
    ("analog.cycles", 10),  # Mains cycles per analog measurement window.
    # tariff and credit (see docs/tariffs.md)
    ("tariff", {}),  # Tariff definition (docs/tariffs.md).
    ("credit.initial", 0),  # Credit (minor units) given once at first boot, when no state exists.
    ("credit.quantum_wh", 10),  # Smallest pre-debit quantum (Wh): energy paid for before it is used.
    ("credit.quantum_s", 60),  # Pre-debit quantum sized to this many seconds of use at the present power.
    ("credit.quantum_max_wh", 0),  # Largest pre-debit quantum (Wh); 0 = no cap (docs/relay.md).
    ("credit.reconnect_min", 100),  # Credit (minor units) needed before the relay reconnects.
    ("credit.reconnect_confirm", False),  # Reconnection needs the consumer to confirm on the page.
    ("credit.emergency", 0),  # Emergency credit (minor units) the consumer may activate once.
    ("credit.low_warn", 5000),  # Low-credit warning level (minor units).
    ("credit.low_days", 3),  # Low-credit warning when estimated days left fall below this.
    ("credit.debt_recovery_pct", 25),  # Share of each top-up that repays debt.
    ("credit.friendly", []),  # Friendly-credit windows: no disconnection (docs/tariffs.md).
    ("power.limit_w", 0),  # Maximum-power limit in W; 0 disables it.
    ("power.hold_s", 10),  # Seconds over the limit before the relay trips.
    ("power.retry_s", 60),  # Seconds before reconnecting after a power-limit trip.
    ("power.retries", 3),  # Automatic reconnections after power-limit trips; the next trip gives up until the consumer resets.
    # tokens (see docs/tokens.md)
    ("token.key", ""),  # OpenPAYGO secret key, 32 hex digits.
    ("token.starting_code", 0),  # OpenPAYGO starting code (9 digits); 0 = derived from the key, as the reference does.
    ("token.unit_minor", 100),  # Credit (minor units) per token value unit.
    ("token.digits", 9),  # Token variant: 9 (standard) or 12 (extended); each also as its 1-4 digit-set form.
    ("token.max_jump", 64),  # How far ahead of the last count a token may be (1..64); lower = fewer false accepts.
    # journal and sync (see docs/protocol.md)
    ("journal.interval_s", 60),  # Interval record length in seconds.
    ("journal.segments", 16),  # Number of rotating journal segment files.
    ("journal.segment_records", 700),  # Records per journal segment.
    ("mqtt.host", ""),  # Broker host; empty disables sync.
    ("mqtt.port", 1883),  # Broker port.
    ("mqtt.user", ""),  # MQTT username (defaults to meter.id).
    ("mqtt.password", ""),  # MQTT password (per meter).
    ("mqtt.prefix", "pm"),  # Topic prefix: <prefix>/<meter>/...
    ("mqtt.keepalive_s", 30),  # MQTT keepalive in real seconds.
    ("mqtt.tele_s", 10),  # Live telemetry period in meter seconds.
    ("mqtt.batch", 50),  # Records per backlog message.
    ("mqtt.timeout_ms", 200),  # Socket timeout bounding every blocking MQTT call.
    ("wifi.ssid", ""),  # WiFi network name.
    ("wifi.password", ""),  # WiFi password.
    # local web page (see docs/web.md)
    ("web.port", 80),  # HTTP port of the consumer page; 0 disables it.
    ("web.pin_hash", ""),  # sha256 hex of salt+PIN for admin settings.
    ("web.pin_salt", ""),  # Salt for the admin PIN hash.
)
