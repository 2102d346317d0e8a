"""The fleet billing run (gateway/billrun.py): on a real store, through the API over real
HTTP and as the real `python -m gateway bill-run` subprocess."""
import json
import subprocess
import sys
from pathlib import Path

from gateway import billrun, invoices
from test_api import KEY
from test_invoice_api import gw   # noqa: F401 (a fixture)
from test_invoices import JULY, JUNE, meter, store   # noqa: F401 (store is a fixture)

REPO = Path(__file__).resolve().parents[2]


def fleet(store):
    """m-1 (the fixture's), two more in group east, and one with no plan."""
    for mid in ("e-1", "e-2"):
        store.register_meter(mid, grp="east", billing_plan="ref")
        meter(store, mid, JUNE, 1000)
    store.register_meter("x-1", grp="east")


def test_run_bills_each_meter_once_and_lists_failures(store):
    fleet(store)
    seen = []
    r = billrun.run(store, "2024-06", now=JULY, progress=lambda d, t: seen.append((d, t)))
    assert r["meters"] == 4 and seen[-1] == (4, 4)
    assert [(x["meter"], x["ref"]) for x in r["invoiced"]] == [
        ("e-1", "INV-000001"), ("e-2", "INV-000002"), ("m-1", "INV-000003")]
    assert [(x["meter"], x["status"]) for x in r["failed"]] == [("x-1", 409)]
    assert "no billing plan" in r["failed"][0]["reason"]
    # again: nothing new, each meter reported as invoiced already
    again = billrun.run(store, "2024-06", now=JULY)
    assert again["invoiced"] == [] and [x["ref"] for x in again["already"]] == [
        "INV-000001", "INV-000002", "INV-000003"]
    assert len(invoices.listing(store, period="2024-06")) == 3


def test_run_a_group_as_drafts_then_finish(store):
    fleet(store)
    r = billrun.run(store, "2024-06", group="east", issue=False, now=JULY)
    assert [x["ref"][:6] for x in r["invoiced"]] == ["draft-", "draft-"]
    # the drafts are remade and issued by the next run; still one invoice per meter
    r = billrun.run(store, "2024-06", group="east", now=JULY)
    assert [x["ref"] for x in r["invoiced"]] == ["INV-000001", "INV-000002"]
    assert len(invoices.listing(store, period="2024-06")) == 2
    assert billrun.run(store, "2024-06", group="nobody", now=JULY)["meters"] == 0


def test_run_over_the_api(gw):
    st, r = gw.call("POST", "/api/billing/runs", {"period": "2024-06"}, key=KEY)
    assert st == 200 and [x["ref"] for x in r["invoiced"]] == ["INV-000001"]
    st, r = gw.call("POST", "/api/billing/runs", {"period": "2024-06"}, key=KEY)
    assert st == 200 and r["invoiced"] == [] and r["already"][0]["ref"] == "INV-000001"
    for body, key, status in (({"period": "2024-06"}, None, 401), ({}, KEY, 400),
                              ({"period": "2024-6"}, KEY, 400), ({"period": 202406}, KEY, 400),
                              ({"period": "2024-06", "group": 5}, KEY, 400),
                              ({"period": "2024-06", "group": "g" * 1000}, KEY, 400),
                              ({"period": "2024-06", "draft": "yes"}, KEY, 400),
                              ({"period": "2024-06", "x": 1}, KEY, 400)):
        st, b = gw.call("POST", "/api/billing/runs", body, key=key)
        assert st == status and b["error"], body


def cli(*args):
    return subprocess.run([sys.executable, "-m", "gateway", "bill-run"] + list(args), cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_cli(store, tmp_path):
    fleet(store)
    store.close()
    db = store.path                              # the SQLite file, or the PostgreSQL URL
    p = cli("--db", db, "--period", "2024-06", "--group", "east")
    assert p.returncode == 1, p.stderr           # x-1 cannot be billed: listed, non-zero
    r = json.loads(p.stdout)
    assert [x["ref"] for x in r["invoiced"]] == ["INV-000001", "INV-000002"]
    assert r["failed"][0]["meter"] == "x-1" and "bill-run: 3/3 meters" in p.stderr
    p = cli("--db", db, "--period", "2024-06")
    assert p.returncode == 1 and len(json.loads(p.stdout)["already"]) == 2
    for args, msg in ((("--db", db, "--period", "2024-13"), "period must be a month"),
                      (("--db", str(tmp_path / "none.db"), "--period", "2024-06"),
                       "no database at"),
                      (("--db", db), "--period"), (("--period", "2024-06"), "--db")):
        p = cli(*args)
        assert p.returncode == 2 and msg in p.stderr, (args, p.stderr)
