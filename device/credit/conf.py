# Credit, power-limit and token settings checked once at boot (types were checked by
# config.py; ranges and structure are checked here). Every problem becomes one readable
# error string; the meter then keeps the relay open and shows them (no crash loop).
# Boot-time only: credit.core drops this module (and tariff_parse) once built.
from prepay.tariff import Tariff, TariffError
from prepay.tariff_parse import calendar, window

# (key, lowest allowed, highest allowed or None)
_RANGES = (
    ("credit.initial", 0, None),
    ("credit.quantum_wh", 1, 100000),
    ("credit.quantum_s", 1, 3600),
    ("credit.quantum_max_wh", 0, 1000000),
    ("credit.reconnect_min", 0, None),
    ("credit.emergency", 0, None),
    ("credit.low_warn", 0, None),
    ("credit.low_days", 0, 365),
    ("credit.debt_recovery_pct", 0, 100),
    ("power.limit_w", 0, None),
    ("power.hold_s", 1, 86400),
    ("power.retry_s", 1, 86400),
    ("power.retries", 0, 1000),
    ("token.starting_code", 0, 999999999),
    ("token.unit_minor", 1, 100000000),
    ("token.max_jump", 1, 64),
)


class Conf:
    """Validated settings -> .tariff, .friendly (tariff.Windows), .key_ok, .errors. The
    key is only checked for form here; the token codec is loaded when a code is entered."""

    def __init__(self, cfg):
        self.errors = errors = []
        for key, lo, hi in _RANGES:
            v = cfg[key]
            if v < lo or (hi is not None and v > hi):
                errors.append("%s: must be %s (got %d)"
                              % (key, ">= %d" % lo if hi is None else "%d..%d" % (lo, hi), v))
        try:
            self.tariff = Tariff(cfg["tariff"])
        except TariffError as e:
            errors.extend(e.errors)
            self.tariff = Tariff({})
        # friendly windows share the tariff's weekend and holiday calendar
        doc = cfg["tariff"] if type(cfg["tariff"]) is dict else {}
        self.friendly = calendar(doc, [])
        for i, w in enumerate(cfg["credit.friendly"]):
            window(self.friendly, w, i, "credit.friendly[%d]" % i, errors)
        if cfg["token.digits"] not in (9, 12):
            errors.append("token.digits: must be 9 (standard) or 12 (extended)")
        key = cfg["token.key"]
        self.key_ok = False     # no key: tokens are refused with a clear message
        if key:
            if len(key) != 32 or any(ch not in "0123456789abcdefABCDEF" for ch in key):
                errors.append("token.key: must be 32 hexadecimal digits")
            else:
                self.key_ok = True
