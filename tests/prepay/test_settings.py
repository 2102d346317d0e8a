"""prepay/settings.py: the one settings table and the one apply() (issue 13 item 1), under
CPython; the meter runs the same module (tests/device/test_config.py, and the admin and MQTT
paths end to end in tests/e2e/test_money_path.py and test_web_page.py)."""
import copy

import pytest

from prepay import settings as S
from prepay.settings import CONSUMER, INSTALLER, MQTT, PIN, apply

GOOD = {"meter": {"id": "m-1"}, "mqtt": {"host": "", "tele_s": 30}, "tariff": {"rates": {"std": 6}}}


@pytest.mark.parametrize("who,changes,errors", [
    # the channel cannot mint credit nor take over the meter: secrets and identity are locked
    (MQTT, {"token": {"key": "0" * 32}}, ["token.key: cannot be changed over MQTT"]),
    (MQTT, {"meter": {"id": "m-2"}, "mqtt": {"password": "x" * 12}},
     ["meter.id: cannot be changed over MQTT", "mqtt.password: cannot be changed over MQTT"]),
    (MQTT, {"web": {"pin_hash": "ab"}}, ["web.pin_hash: cannot be changed over MQTT"]),
    # the consumer changes what the admin page offers, the PIN only through its form
    (CONSUMER, {"tariff": {"rates": {"std": 1}}}, ["tariff: cannot be changed here"]),
    (CONSUMER, {"credit": {"initial": 10 ** 6}}, ["credit.initial: cannot be changed here"]),
    (CONSUMER, {"web": {"pin_hash": "ab"}}, ["web.pin_hash: cannot be changed here"]),
    (PIN, {"power": {"limit_w": 100}}, ["power.limit_w: cannot be changed here"]),
    # a key no row has is unknown to everyone alike
    (CONSUMER, {"power": {"bogus": 1}}, ["power.bogus: unknown setting"]),
    (MQTT, {"bogus": 1}, ["bogus: unknown setting"]),
    # nothing, or not an object
    (MQTT, {}, ["nothing to change"]),
    (INSTALLER, [1], ["config: top level must be an object",
                      "meter.id: must be 1-32 of [a-z0-9-]"]),
])
def test_apply_refuses_what_who_may_not_change(who, changes, errors):
    doc = copy.deepcopy(GOOD)
    new, _, got = apply(doc, changes, who)
    assert got == errors
    assert new is doc and doc == GOOD                 # nothing merged


@pytest.mark.parametrize("who,changes", [
    (MQTT, {"tariff": {"rates": {"std": 7}}, "credit": {"low_days": 5}}),
    (CONSUMER, {"power": {"limit_w": 3000}, "wifi": {"ssid": "home", "password": "p" * 8}}),
    (PIN, {"web": {"pin_hash": "a" * 64, "pin_salt": "b" * 16}}),
    (INSTALLER, {"token": {"key": "0" * 32}, "meter": {"id": "m-2"}}),
])
def test_apply_merges_into_a_copy(who, changes):
    doc = copy.deepcopy(GOOD)
    new, cfg, errors = apply(doc, changes, who)
    assert errors == [] and doc == GOOD               # the caller's doc is untouched
    for key in S.keys_of(changes):
        sec, _, name = key.partition(".")
        assert cfg[key] == (changes[sec][name] if name else changes[sec])
    assert new["mqtt"] == GOOD["mqtt"]                # other keys of a section are kept


def test_apply_refuses_a_change_that_boot_would_refuse():
    """The live bug of issue 13: a config command once passed a check that boot did not."""
    bad = {"tariff": {"rates": {"a": "-1"}}, "credit": {"quantum_s": 0}}
    new, _, errors = apply(copy.deepcopy(GOOD), bad, MQTT)
    assert new == GOOD and errors == [
        "credit.quantum_s: must be 1..3600 (got 0)",
        "tariff.rates.a: '-1' is not a decimal with at most 3 decimals",
        "tariff.default: must name one of the rates ()"]


def test_a_tariffs_problems_are_data_like_every_settings():
    """The meter's page says a tariff's problems in the consumer's language: they come as
    (key, code, values) like every other setting's, friendly windows' included, and their
    English (the MQTT answer's) is the same words."""
    bad = {"tariff": {"rates": {"a": "-1"}}, "credit": {"quantum_s": 0, "friendly": [7]}}
    errors = apply(copy.deepcopy(GOOD), bad, MQTT, S.problem)[2]
    assert errors == [("credit.quantum_s", "range", (1, 3600, 0)),
                      ("tariff.rates.a", "decimals", ("'-1'",)),
                      ("tariff.default", "rate_name", ("",)),
                      ("credit.friendly[0]", "must_object", ())]
    assert [S.english(e) for e in errors] == apply(copy.deepcopy(GOOD), bad, MQTT)[2]
    assert S.english(errors[3]) == "credit.friendly[0]: must be an object"


def test_every_row_is_well_formed():
    for key, default, lo, hi, access in S.SETTINGS:
        assert type(access) is str and set(access) <= set("cpvsm"), key
        if lo is not None:
            assert type(default) in (int, float, str) and (hi is None or lo <= hi), key
    # boot applies config.json to {} as the installer: the defaults alone fail only for the id
    assert apply({}, {"meter": {}})[2] == ["meter.id: must be 1-32 of [a-z0-9-]"]


@pytest.mark.parametrize("s,ok", [("m-1", True), ("a" * 32, True), ("", False), ("a" * 33, False),
                                  ("M-1", False), ("m_1", False), ("m/1", False), (7, False),
                                  (None, False), ("m-1\n", False)])
def test_one_id_check(s, ok):
    """The meter, the gateway's storage and API, ingest's topic parser and provisioning use
    this one function (it was written four times)."""
    from gateway import alerts_api, schema
    from host_tools import provision
    from prepay import wire
    assert S.valid_id(s) is ok
    assert schema.valid_id is wire.valid_id is provision.valid_id is alerts_api.valid_id \
        is S.valid_id
    if isinstance(s, str):          # the meter.id setting is checked with it too
        want = [] if ok else ["meter.id: must be 1-32 of [a-z0-9-]"]
        assert apply({}, {"meter": {"id": s}})[2] == want
