"""The gateway reuses the meter's tariff code (prepay/tariff.py), it does not copy it: the
same module prices energy on both sides, and the gateway's reconciliation of a meter's
time-of-use debits (computed by the real firmware on the unix port) is exact."""
import ast
import inspect
import json
import types
from pathlib import Path

import bundle
import upy
from gateway import pricing
from prepay import tariff

REPO = Path(__file__).resolve().parents[2]
TOU = {"rates": {"peak": "12.5", "std": 800, "off": "4.125"}, "default": "std",
       "windows": [{"rate": "peak", "days": ["weekday"], "from": "18:00", "to": "22:00"},
                   {"rate": "off", "from": "22:00", "to": "06:00"}]}


def test_gateway_prices_with_the_shared_module():
    assert pricing.Tariff is tariff.Tariff
    assert Path(inspect.getsourcefile(pricing.Tariff)) == REPO / "prepay" / "tariff.py"
    assert pricing.split_um is tariff.split_um


def test_no_second_copy_of_tariff_rules_in_the_gateway():
    # no gateway module defines its own Tariff/Windows class or calendar/rate maths
    for p in sorted((REPO / "gateway").rglob("*.py")):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert node.name not in ("Tariff", "Windows"), p
            if isinstance(node, ast.FunctionDef):
                assert node.name not in ("days_from_civil", "civil_from_days", "parse_milli",
                                         "rate_id", "day_matches"), (p, node.name)


def test_reconciles_meter_tou_debits_exactly(tmp_path):
    # the meter (real Credit on the unix port) runs 1 kW from 17:00 to 23:00 local, +05:30
    root = tmp_path / "m"
    root.mkdir()
    (r,) = upy.run_json("credit_check.py", "cs_money", "tou", METER_ROOT=root,
                        METER_EPOCH=1737331200, METER_SPEED=1000,
                        MICROPYPATH=bundle.micropypath())
    meter = types.SimpleNamespace(tariff="tou", off=330)
    p = pricing.Pricing(None, {"tou": json.loads(json.dumps(TOU))})
    # one representative UTC instant inside each bucket on that Monday (2025-01-20)
    at = {"std": 1737331200 + 17 * 3600 + 1800 - 19800,
          "peak": 1737331200 + 19 * 3600 - 19800,
          "off": 1737331200 + 22 * 3600 + 1800 - 19800}
    gw_um = 0
    for b, wh in r["per"].items():
        assert p.bucket(meter, at[b]) == b
        gw_um += p.cost_um(meter, at[b], wh)
    assert gw_um == r["audit"]["energy_um"]            # to the micro-minor unit
    assert pricing.minor(gw_um) == r["audit"]["energy_um"] // 10**6
    # and the shared cost_by_bucket gives the same per-bucket split
    t = tariff.Tariff(TOU)
    by = tariff.cost_by_bucket(t, [(at[b], wh) for b, wh in r["per"].items()], 330)
    assert {b: v[0] for b, v in by.items()} == r["per"]
