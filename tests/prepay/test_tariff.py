"""Tariff rules (prepay/tariff.py) on BOTH runtimes with the same vectors: CPython here, the
unix-port MicroPython (128k heap) via tests/device/upy/tariff_check.py. Expected values in
tariff_vectors.json were worked out by hand (rates in milli-minor per kWh)."""
import ast
import json
from pathlib import Path

import pytest

import upy
from prepay.problems import TARIFF, english

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VEC = HERE / "tariff_vectors.json"
V = json.loads(VEC.read_text())


def _cpython():
    return upy.check_module("tariff_check").evaluate(V)


@pytest.fixture(scope="module", params=["cpython", "micropython"])
def results(request):
    if request.param == "cpython":
        return _cpython()
    (r,) = upy.run_json("tariff_check.py", VEC)
    return r


def test_buckets_and_rates(results):
    assert results["queries"] == [[b, r] for _, _, b, r in V["queries"]]


def test_price_rounds_down_and_carries(results):
    assert results["prices"] == [[m, c] for *_, m, c in V["prices"]]


def test_standing_charge(results):
    assert results["standing"] == [[m, c] for *_, m, c in V["standing"]]


def test_cost_by_bucket(results):
    assert results["cost_by_bucket"] == V["cost_by_bucket"]["expect"]


def test_every_bad_input_has_a_clear_error(results):
    for (doc, expect), got in zip(V["errors"], results["errors"]):
        assert got is not None and expect in got, (doc, got)


def test_every_problem_is_data_with_its_english(results):
    """Each problem is (key, code, values), on both runtimes; its English (prepay/problems.py)
    is what the gateway and the MQTT answers say, str() of the error."""
    for text, problems in zip(results["errors"], results["problems"]):
        assert "; ".join(english(p) for p in problems) == text


def test_every_tariff_code_is_reached_by_a_bad_input(results):
    # the vectors cover every problem the parser can raise, each once at least
    assert {p[1] for ps in results["problems"] for p in ps} == set(TARIFF)


def _codes_in_the_parser():
    """The codes prepay/tariff_parse.py raises (Problem(key, code, ...)) or appends
    ((key, code, values) tuples), read from its source."""
    tree = ast.parse((ROOT / "prepay" / "tariff_parse.py").read_text())
    codes = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Problem":
            codes.add(n.args[1].value)
        elif isinstance(n, ast.Tuple) and len(n.elts) == 3 and isinstance(n.elts[2], ast.Tuple):
            codes.add(n.elts[1].value)
    return codes


def test_every_code_the_parser_uses_has_its_english():
    # and no English is left for a code the parser no longer raises; the catalogues'
    # translations of each are tests/test_webassets.py's
    assert _codes_in_the_parser() == set(TARIFF)


def test_empty_tariff_charges_nothing(results):
    exp = [[b, r] for _, _, b, r in V["empty"]["queries"]] + [
        [m, c] for *_, m, c in V["empty"]["prices"]]
    assert results["empty"] == exp


def test_next_change(results):
    # the page's "off-peak from 22:00": the next window edge or midnight where the rate
    # differs (a holiday and a weekend skipped whole days); the empty tariff has none
    assert results["next_change"] == [[t, b] for *_, t, b in V["next_change"]] + [None]


def test_parsed_form(results):
    assert results["max_min"] == [950500, 412125, ["off", "peak", "std"], 12345]


def test_both_runtimes_agree():
    (r,) = upy.run_json("tariff_check.py", VEC)
    assert r == json.loads(json.dumps(_cpython()))


def test_calendar_round_trip():
    from prepay.tariff_parse import civil_from_days, days_from_civil
    for n in range(-800000, 800000, 997):
        assert days_from_civil(*civil_from_days(n)) == n
    assert days_from_civil(2000, 3, 1) == 11017 and civil_from_days(19377) == (2023, 1, 20)
