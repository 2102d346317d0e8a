"""What the gateway accepts for a meter's attributes (POST /api/meters) and its numeric query
parameters, in one table that the checks and the OpenAPI description both read.

An attribute that mirrors a meter setting takes the firmware's own range, read from the
one settings table (prepay/settings.py), so the gateway never stores a value the meter would
refuse at boot: a `max_power_w` of -5 or an `interval_s` of 0 once made every delta a "jump"
and dropped the consumption after it from bills.
"""
from prepay.settings import SETTINGS, TOKEN_DIGITS

INT_MAX = 2**53 - 1          # no setting is unbounded in JSON: the largest exact double
STR_MAX = 200                # free-text attributes (name, group, ...)
EPOCH_MAX = 32503680000      # 3000-01-01T00:00Z: time parameters stay in datetime's range

# gateway attribute -> the meter setting it mirrors (prepay/settings.py)
MIRRORS = {"utc_offset_min": "meter.utc_offset_min", "interval_s": "journal.interval_s",
           "max_power_w": "measure.max_power_w", "low_warn": "credit.low_warn",
           "token_starting_code": "token.starting_code", "token_unit_minor": "token.unit_minor"}
# attributes of the gateway's own: a record's seq is a uint32; a load up to 1 GW
OWN = {"first_seq": (0, 2**32 - 1), "sanctioned_load_w": (0, 10**9),
       "sanctioned_load_va": (0, 10**9)}
# token.digits is a choice, not a range (prepay/settings.py _rules)
CHOICES = {"token_digits": TOKEN_DIGITS}


def _firmware_ranges():
    """{setting: (lo, hi)} of the numeric settings (hi None in the table = unbounded)."""
    return {key: (lo, INT_MAX if hi is None else hi)
            for key, d, lo, hi, _ in SETTINGS if lo is not None and type(d) is int}


def _int_ranges():
    fw = _firmware_ranges()
    out = {attr: fw[key] for attr, key in MIRRORS.items()}
    out.update(OWN)
    return out


INT_RANGES = _int_ranges()   # attribute -> (lo, hi), both inclusive


def check_int(name, v):
    """The problem with integer attribute `name` = v, or None."""
    if name in CHOICES:
        if v not in CHOICES[name]:
            return "must be one of %s" % ", ".join(map(str, CHOICES[name]))
        return None
    lo, hi = INT_RANGES[name]
    if not lo <= v <= hi:
        return "must be an integer %d..%d" % (lo, hi)
    return None


def int_schema(name):
    """The OpenAPI schema of integer attribute `name`."""
    if name in CHOICES:
        return {"type": "integer", "enum": list(CHOICES[name])}
    lo, hi = INT_RANGES[name]
    return {"type": "integer", "minimum": lo, "maximum": hi}
