"""Prepaid monthly statements over real HTTP and real SQLite, the PDF read back with pypdf,
the command as a real subprocess (gateway/statements.py, gateway/statement_api.py,
gateway/statement_render.py; the reconciliation_drift alert of gateway/alerts.py;
docs/billing.md "Prepaid statements")."""
import csv
import io
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from pypdf import PdfReader

from test_api import KEY
# gw is a fixture: m-1 on TOU, m-r on a flat tariff
from test_billing import T0, gw, topups   # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def fetch(gw, path):
    with urllib.request.urlopen(gw.url + path, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_statement_has_topups_debits_by_bucket_standing_and_the_reconciliation(gw):
    topups(gw)
    st, s = gw.get("/api/meters/m-r/statement?period=2024-06")
    assert st == 200, s
    assert [(x["amount"], x["status"]) for x in s["topups"]] == \
        [(2000, "accepted"), (500, "rejected: used"), (300, "vended")]
    assert (s["topups_accepted"], s["topups_pending"]) == (2000, 300)
    # 14.4 kWh at the flat 100 a kWh; the flat tariff has no standing charge
    assert s["debits"] == [{"bucket": "std", "wh": 14400, "rate": "100", "exact": "1440",
                            "amount": 1440}]
    assert s["standing"] is None and s["charged"] == 1440
    # 1000 + 2000 accepted - 1560 = 1440 debited: no drift
    assert s["reconciliation"] == {
        "records": True, "opening": {"seq": 1, "t": T0, "wh": 0, "credit": 1000},
        "closing": {"seq": 1441, "t": T0 + 86400, "wh": 14400, "credit": 1560},
        "metered_wh": 14400, "debited": 1440, "drift": 0, "tolerance": 10,
        "within_tolerance": True}
    assert (s["tariff"], s["final"], s["days"]) == ("flat", True, 30)
    # m-1 on time of use: one debit per bucket, exactly the monthly bill's energy and
    # standing lines (test_billing.test_tou_plan_equals_existing_tou_cost), and its credit
    # never moved in the records: drift 109
    st, s = gw.get("/api/meters/m-1/statement?period=2024-06")
    assert [(x["bucket"], x["wh"], x["rate"], x["exact"], x["amount"]) for x in s["debits"]] \
        == [("offpeak", 12000, "4", "48", 48), ("peak", 2400, "9.5", "22.8", 23)]
    assert s["standing"] == {"days": 30, "per_day": "1.25", "exact": "37.5", "amount": 38}
    assert s["charged"] == 109 and s["reconciliation"]["debited"] == 0
    assert (s["reconciliation"]["drift"], s["reconciliation"]["within_tolerance"]) == (109, False)
    # a month without records: nothing to reconcile
    st, s = gw.get("/api/meters/m-1/statement?period=2024-08")
    assert st == 200 and s["debits"] == [] and s["reconciliation"]["records"] is False
    assert s["reconciliation"]["drift"] is None and s["reconciliation"]["within_tolerance"] is None


def test_a_drift_beyond_the_tolerance_raises_an_alert_until_within_it(gw):
    topups(gw)
    st, run = gw.call("POST", "/api/billing/statement-runs", {"period": "2024-06"}, key=KEY)
    assert st == 200, run
    assert run["made"] == [
        {"meter": "m-1", "charged": 109, "debited": 0, "drift": 109, "within_tolerance": False},
        {"meter": "m-r", "charged": 1440, "debited": 1440, "drift": 0, "within_tolerance": True}]
    st, a = gw.get("/api/alerts?kind=reconciliation_drift")
    assert [(x["meter"], x["drift"], x["tolerance"], x["period"]) for x in a["alerts"]] == \
        [("m-1", 109, 10, "2024-06")]
    assert a["alerts"][0]["explanation"] == \
        "statement 2024-06: the tariff charges 109, the meter debited 0: drift +109 beyond 10"
    st, kept = gw.get("/api/statements?drift=1")
    assert [(x["meter"], x["period"], x["drift"]) for x in kept["statements"]] == \
        [("m-1", "2024-06", 109)]
    st, kept = gw.get("/api/statements?period=2024-06")
    assert [x["meter"] for x in kept["statements"]] == ["m-1", "m-r"]
    # the tolerance is a threshold: m-1's own, 200, is above its drift and clears the alert
    st, b = gw.call("PUT", "/api/alert-thresholds",
                    {"meter": "m-1", "values": {"reconciliation_tolerance": 200}}, key=KEY)
    assert st == 200, b
    st, a = gw.get("/api/alerts?kind=reconciliation_drift")
    assert a["alerts"] == []
    st, s = gw.get("/api/meters/m-1/statement?period=2024-06")
    assert s["reconciliation"]["tolerance"] == 200 and s["reconciliation"]["within_tolerance"]
    # a provisional statement (the month not over) never raises one
    gw.call("PUT", "/api/alert-thresholds", {"meter": "m-1", "values": {
        "reconciliation_tolerance": None}}, key=KEY)
    with gw.store.write() as cur:
        cur.execute("UPDATE statements SET final=0")
    st, a = gw.get("/api/alerts?kind=reconciliation_drift")
    assert a["alerts"] == []


def test_pdf_and_csv(gw):
    topups(gw)
    gw.call("PUT", "/api/billing/invoice-settings", {"utility_name": "Shakti Power"}, key=KEY)
    st, ctype, body = fetch(gw, "/api/meters/m-1/statement.pdf?period=2024-06")
    assert st == 200 and ctype == "application/pdf" and body.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    for needle in ("Shakti Power", "PREPAID STATEMENT", "Meter: m-1", "Month: 2024-06",
                   "Status: DRIFT beyond tolerance", "Customer Flat 1", "Tariff tou",
                   "Energy offpeak 12 0.04 0.48", "Energy peak 2.4 0.095 0.23",
                   "Standing charge 30 days x 1.25 0.38", "Charged by the tariff 1.09",
                   "Debited by the meter 0.00", "Drift (charged - debited), tolerance 0.10 1.09"):
        assert needle in text, (needle, text)
    st, ctype, body = fetch(gw, "/api/meters/m-r/statement.pdf?period=2024-06")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    for needle in ("Status: reconciled", "accepted (r1) 20.00", "rejected: used 5.00",
                   "Top-ups the meter accepted 20.00", "Debited by the meter 14.40"):
        assert needle in text, (needle, text)
    st, ctype, body = fetch(gw, "/api/meters/m-r/statement.csv?period=2024-06")
    assert st == 200 and ctype.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["meter", "period", "section", "description", "kwh", "rate", "amount",
                       "currency"]
    assert [r[2] for r in rows[1:]] == ["topup", "topup", "topup", "debit", "charged",
                                        "topups_accepted", "opening_credit", "closing_credit",
                                        "debited", "drift"]
    assert rows[4][3:7] == ["Energy std", "14.4", "1", "14.40"]
    assert [r[6] for r in rows[-3:]] == ["15.60", "14.40", "0.00"]


@pytest.mark.parametrize("method,path,body,key,status,msg", [
    ("GET", "/api/meters/m-1/statement", None, None, 400, "period"),
    ("GET", "/api/meters/m-1/statement?period=2024-13", None, None, 400, "YYYY-MM"),
    ("GET", "/api/meters/m-1/statement?period=2024-06&plan=x", None, None, 400,
     "unknown parameter 'plan'"),
    ("GET", "/api/meters/nope/statement?period=2024-06", None, None, 404, "nope"),
    ("GET", "/api/meters/m-n/statement.pdf?period=2024-06", None, None, 409, "has no tariff"),
    ("GET", "/api/statements?drift=2", None, None, 400, "drift"),
    ("GET", "/api/statements?period=June", None, None, 400, "period"),
    ("POST", "/api/billing/statement-runs", {"period": "2024-06"}, None, 401, ""),
    ("POST", "/api/billing/statement-runs", {"period": "2024-6"}, KEY, 400, "YYYY-MM"),
    ("POST", "/api/billing/statement-runs", {"period": "2024-06", "x": 1}, KEY, 400,
     "unknown field 'x'"),
    ("POST", "/api/billing/statement-runs", {"period": "2024-06", "group": 5}, KEY, 400,
     "group"),
])
def test_bad_requests(gw, method, path, body, key, status, msg):
    gw.store.register_meter("m-n")       # a meter without a tariff
    st, b = gw.call(method, path, body, key=key)
    assert st == status, b
    assert msg in b["error"], b


def test_run_lists_meters_without_a_tariff_and_goes_on(gw):
    gw.store.register_meter("m-n", grp="g")
    gw.store.register_meter("m-r", grp="g")
    st, run = gw.call("POST", "/api/billing/statement-runs", {"period": "2024-06",
                                                              "group": "g"}, key=KEY)
    assert st == 200 and run["meters"] == 2
    assert [x["meter"] for x in run["made"]] == ["m-r"]
    assert run["failed"] == [{"meter": "m-n", "status": 409, "reason":
                              "meter m-n has no tariff: a prepaid statement shows what the "
                              "meter's own tariff debits"}]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "gateway", "statement"] + list(args),
                          cwd=REPO, capture_output=True, timeout=60)


def test_cli(gw, tmp_path):
    db = gw.store.path
    gw.store.register_meter("m-n")
    p = _cli("--db", db, "--period", "2024-06", "--meter", "m-1")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["charged"] == 109 and s["reconciliation"]["drift"] == 109
    out = tmp_path / "s.pdf"
    p = _cli("--db", db, "--period", "2024-06", "--meter", "m-1", "--format", "pdf",
             "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "Charged by the tariff 1.09" in PdfReader(str(out)).pages[0].extract_text()
    p = _cli("--db", db, "--period", "2024-06", "--meter", "m-r", "--format", "csv")
    assert p.returncode == 0 and p.stdout.decode().startswith("meter,period,section")
    # the fleet: every meter's statement kept; m-n has no tariff (exit 1, listed)
    p = _cli("--db", db, "--period", "2024-06")
    assert p.returncode == 1, p.stderr
    report = json.loads(p.stdout)
    assert [x["meter"] for x in report["made"]] == ["m-1", "m-r"]
    assert [x["meter"] for x in report["failed"]] == ["m-n"]
    assert b"statements: 3/3 meters" in p.stderr
    for bad, msg in ((["--period", "2024-06", "--meter", "m-1", "--format", "pdf"],
                      b"give --out FILE"),
                     (["--period", "2024-06", "--format", "csv"], b"give --meter"),
                     (["--period", "June"], b"YYYY-MM"),
                     (["--period", "2024-06", "--meter", "m-1", "--group", "g"],
                      b"not allowed with argument")):
        p = _cli("--db", db, *bad)
        assert p.returncode == 2 and msg in p.stderr, (bad, p.stderr)
    p = _cli("--db", str(tmp_path / "none.db"), "--period", "2024-06")
    assert p.returncode == 2 and b"no database at" in p.stderr
    p = _cli("--db", db, "--period", "2024-06", "--meter", "m-n")
    assert p.returncode == 1 and b"has no tariff" in p.stderr


def test_the_service_makes_last_months_statements_once_the_month_has_ended(gw):
    """The alert loop's hourly check (gateway/alert_service.py): in July, June's statements
    are made once for every meter with a tariff, and an hour later nothing is made again."""
    from gateway.alert_service import AlertLoop
    logs = []
    loop = AlertLoop(gw.store, None, None, 30, log=logs.append)
    july = T0 + 31 * 86400                      # T0 is 1 June 2024 (UTC)
    out = loop.monthly_statements(july)
    assert out["period"] == "2024-06" and sorted(r["meter"] for r in out["made"]) == ["m-1", "m-r"]
    assert sorted(s["meter"] for s in statements_kept(gw, "2024-06")) == ["m-1", "m-r"]
    assert "statements for 2024-06: 2 made" in logs[-1]
    assert loop.monthly_statements(july + 3600) is None        # made once


def statements_kept(gw, period):
    from gateway import statements
    return statements.stored(gw.store, period=period)


def test_a_topup_belongs_to_the_month_the_meter_applied_it(gw):
    """Vended ten minutes before June ended, applied by the meter ten minutes into July (the
    gateway got its acceptance then): July's top-up, not June's, so neither month drifts."""
    from gateway import vend
    from gateway.outbox import Outbox
    box = Outbox(gw.store, lambda meter_id, kind, **f: True)
    tx, _ = vend.topup(gw.store, "m-r", 700, None, None, None, box)
    (cmd,) = gw.store.query("SELECT cid FROM outbox WHERE tx=?", (tx["id"],))
    assert gw.store.command_result("m-r", {"id": cmd["cid"], "cmd": "token", "ok": True})
    june_end = T0 + 30 * 86400
    with gw.store._lock:
        gw.store.db.execute("UPDATE transactions SET t=? WHERE id=?", (june_end - 600, tx["id"]))
        gw.store.db.execute("UPDATE outbox SET done=? WHERE tx=?", (june_end + 600, tx["id"]))
    june = gw.get("/api/meters/m-r/statement?period=2024-06")[1]
    july = gw.get("/api/meters/m-r/statement?period=2024-07")[1]
    assert tx["id"] not in [x["id"] for x in june["topups"]]
    (t,) = [x for x in july["topups"] if x["id"] == tx["id"]]
    assert (t["t"], t["applied"], t["amount"], t["status"]) == (june_end - 600, june_end + 600,
                                                                700, "accepted")
    assert july["topups_accepted"] == 700
