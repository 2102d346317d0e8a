# What can be wrong with a config or a tariff, in English: the one home of those texts. A
# problem is data, (key, code, values): the key names what is wrong (a setting, "config",
# "config.json", or a tariff path such as "tariff.windows[0].from"), and its English text is
# "<key>: " + the code's text % values. The operator's channels (console, gateway API, MQTT
# answers, the host tools) get that text (text, english); the meter's page keeps the triple
# (problem) and says it in the consumer's language: the catalogues' cfg.<code> entries
# (device/web/assets/lang), whose English ones host_tools/webassets.py takes from here.
# Both runtimes. The meter loads this module with the settings table or the tariff parser
# and drops it with them (device/config.py unload, device/credit/setup.py).

# a config's problems (prepay/settings.py)
CONFIG = {
    "unknown": "unknown setting",
    "type": "expected %s, got %s",
    "id": "must be %s-%s of [a-z0-9-]",
    "len": "must be %s to %s characters (got %s)",
    "min": "must be >= %s (got %s)",
    "range": "must be %s..%s (got %s)",
    "here": "cannot be changed here",
    "mqtt": "cannot be changed over MQTT",
    "nothing": "nothing to change",
    "object": "top level must be an object",
    "missing": "missing",
    "json": "not valid JSON (%s)",
    "write": "write failed: %s",
    "source": "must be 'pzem' or 'analog'",
    "prefix": "1-16 characters without / # +",
    "wifi_pw": "8 to 64 characters (or empty for an open network)",
    "ap_pw": "8 to 64 characters (WPA2), or empty for no setup access point",
    "digits": "must be 9 (standard) or 12 (extended)",
    "hex": "must be 32 hexadecimal digits",
    "hosts": "up to 8 names, each 1-64 of [a-z0-9.-]",
    "ca": "required when mqtt.tls is true",
}

# a tariff document's and the friendly windows' problems (prepay/tariff_parse.py); the
# gateway's billing plans reuse the money and date ones (gateway/billing.py, billplan.py).
# A quoted value is the caller's repr(), as the operators always saw it.
TARIFF = {
    "negative": "must not be negative",
    "money_type": "use an integer or a decimal string like \"7.125\", not %s",
    "decimals": "%s is not a decimal with at most 3 decimals",
    "time": "%s is not a time HH:MM (00:00-%s)",
    "date": "%s is not a date YYYY-MM-DD",
    "weekend": "must be a list of day names (%s)",
    "holidays": "must be a list of dates YYYY-MM-DD",
    "must_object": "must be an object",
    "key_unknown": "unknown key %s (known: %s)",
    "days_empty": "must be a non-empty list",
    "day": "%s is not one of %s",
    "from_to": "give both from and to, or neither (whole day)",
    "from_is_to": "from equals to; omit both for a whole day",
    "string": "must be a string",
    "rates": "must be an object of name -> rate per kWh, at least one",
    "rate_high": "%d minor units per kWh is implausibly high",
    "rate_name": "must name one of the rates (%s)",
    "list": "must be a list",
}


def text(key, code, *values):
    """A problem in English: "<key>: <what is wrong>"."""
    t = CONFIG.get(code) or TARIFF[code]
    t = t % values if values else t
    return key + ": " + t if key else t


def english(p):
    """A problem triple (problem()) in English."""
    return text(p[0], p[1], *p[2])


def problem(key, code, *values):
    """A problem as data, (key, code, values), for a page that says it in its own words."""
    return key, code, values


class Problem(ValueError):
    """A problem raised (by a check several callers share: prepay/tariff_parse.py's
    parse_milli, parse_hhmm, parse_date): str() is its English text, .problem its triple."""

    def __init__(self, key, code, *values):
        super().__init__(text(key, code, *values))
        self.problem = (key, code, values)
