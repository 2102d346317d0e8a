# The page's top-up list (web/event_text.py topups) over the credit module's own events: one
# code typed, one sent by the utility (remote=True), with the words of two languages.
# Run by credit_check.py under MicroPython (its own module: cs_tokens fills the capped heap).
from credit_harness import meter, token

FLAT = {"rates": {"std": 1000}}
TOK = {"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010}


def s_topups():
    m = meter({"tariff": FLAT, "token": TOK}, fresh=True)
    m.credit.enter_token(token(5, 2))            # typed on the page
    m.credit.enter_token(token(3, 4), True)      # sent by the utility over MQTT
    m.credit.enter_token("123456789")            # rejected: not a top-up
    from web.event_text import topups
    return {"en": [[t["remote"], t["amount"], t["text"]] for t in topups(m, "en")],
            "sw": [t["text"] for t in topups(m, "sw")]}
