"""`python -m gateway bill` as a real subprocess: bad input gets a clear message on stderr
and exit status 2, never a traceback (gateway/billcli.py)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
PGE = str(GOLDEN / "pge_etouc_svce.json")
SEYMOUR = str(GOLDEN / "seymour_winter.json")
PERIOD = ["--from", "2024-01-01", "--to", "2024-01-31"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "gateway", "bill"] + list(args), cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def plan_file(tmp_path):
    def write(text):
        p = tmp_path / "plan.json"
        p.write_text(text)
        return str(p)
    return write


def test_prints_the_bill_as_json():
    p = run("--plan", SEYMOUR, *PERIOD, "--kwh", "1200")
    assert p.returncode == 0 and p.stderr == ""
    b = json.loads(p.stdout)
    assert b["total"] == "171.55" and b["from"] == "2024-01-01" and b["days"] == 31
    assert set(b["lines"][0]) >= {"name", "base", "rate", "quantity", "exact", "amount"}


@pytest.mark.parametrize("args,msg", [
    ([], "the following arguments are required: --plan, --from, --to, --kwh"),
    (["--plan", SEYMOUR, "--from", "2024-02-30", "--to", "2024-03-01", "--kwh", "1"],
     "argument --from: '2024-02-30' is not a date YYYY-MM-DD"),
    (["--plan", SEYMOUR, "--from", "2024-03-02", "--to", "2024-03-01", "--kwh", "1"],
     "the period ends before it starts"),
    (["--plan", SEYMOUR, *PERIOD, "--kwh", "-5"], "argument --kwh: '-5' is not a non-negative"),
    (["--plan", SEYMOUR, *PERIOD, "--kwh", "12.5.1"], "argument --kwh: '12.5.1' is not a"),
    (["--plan", SEYMOUR, *PERIOD, "--kwh", "1e999999"], "argument --kwh: '1e999999' is not a"),
    (["--plan", SEYMOUR, *PERIOD, "--kwh", "inf"], "argument --kwh: 'inf' is not a"),
    (["--plan", SEYMOUR, *PERIOD, "--kwh", "1", "--quantity", "kvarh"],
     "argument --quantity: expected NAME=VALUE, got 'kvarh'"),
    (["--plan", SEYMOUR, *PERIOD, "--kwh", "1", "--quantity", "kvarh=5"],
     "the plan has no quantity kvarh (declared: none)"),
    (["--plan", PGE, *PERIOD, "--kwh", "1", "--quantity", "pcia=1", "--quantity", "pcia=2"],
     "--quantity pcia given twice"),
    (["--plan", PGE, *PERIOD, "--kwh", "1"],
     "lines[0] needs the quantity peak_kwh (--quantity peak_kwh=VALUE)"),
    (["--plan", PGE, *PERIOD, "--kwh", "1", "--quantity", "peak_kwh=-1"],
     "quantity peak_kwh: must not be negative, got -1"),
    (["--plan", SEYMOUR, *PERIOD, "--kwh", "1", "--carry-in", "0.2"],
     "--carry-in: the plan does not carry a rounding remainder"),
    (["--plan", "/nonexistent/plan.json", *PERIOD, "--kwh", "1"],
     "cannot read /nonexistent/plan.json: No such file or directory"),
])
def test_bad_input_is_a_clear_error_and_exit_2(args, msg):
    p = run(*args)
    assert p.returncode == 2, p
    assert msg in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("text,msg", [
    ("{", "is not valid JSON"),
    ('{"format": 2, "lines": [{"id": "e", "type": "unit", "rate": NaN}]}', "NaN is not a number"),
    ('{"format": 2, "lines": [{"id": "e", "type": "unit"}]}', "lines[0].rate: required"),
    ('{"format": 2, "lines": [{"id": "d", "type": "unit", "quantity": "max_demand_kw", '
     '"rate": "300"}]}', "lines[0] needs the quantity max_demand_kw (--max-demand-kw)"),
    ('{"energy": {"type": "slabs", "slabs": [{"rate": 3.5}]}}',
     'energy.slabs[0].rate: use an integer or a decimal string like "7.125", not Decimal'),
])
def test_bad_plan_files(plan_file, text, msg):
    p = run("--plan", plan_file(text), *PERIOD, "--kwh", "1")
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_json_numbers_in_a_plan_are_exact_decimals(plan_file):
    """A JSON number is read as a Decimal, never a float: 0.1 x 3 is exactly 0.3, and
    208.475 (a float gives 208.47499...) rounds to 208.48."""
    doc = {"format": 2, "lines": [{"id": "e", "type": "unit", "rate": "RATE"}]}
    text = json.dumps(doc).replace('"RATE"', "0.0269")
    p = run("--plan", plan_file(text), *PERIOD, "--kwh", "7750")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["lines"][0]["exact"] == "208.475"
    assert json.loads(p.stdout)["total"] == "208.48"


def test_sanctioned_kva_and_the_plans_demand_window(plan_file, tmp_path):
    """--sanctioned-kva gives sanctioned_kva; --intervals measures demand over the plan's
    demand.window_min unless --demand-window-min says otherwise."""
    doc = {"format": 2, "demand": {"window_min": 15}, "lines": [
        {"id": "cap", "type": "unit", "quantity": "sanctioned_kva", "rate": "2"},
        {"id": "md", "type": "unit", "quantity": "max_demand_kw", "rate": "1"}]}
    csv = tmp_path / "iv.csv"
    t0 = 1704067200      # 2024-01-01 00:00 UTC
    # 15 one-minute records of 300 Wh (18 kW), then 15 of 100 Wh: 18 kW over 15 minutes,
    # 12 kW over 30
    csv.write_text("t_end,wh\n" + "".join("%d,%d\n" % (t0 + 60 * (i + 1), 300 if i < 15 else 100)
                                          for i in range(30)))
    plan = plan_file(json.dumps(doc))
    p = run("--plan", plan, *PERIOD, "--kwh", "1", "--sanctioned-kva", "4.5",
            "--intervals", str(csv))
    assert p.returncode == 0, p.stderr
    assert [x["amount"] for x in json.loads(p.stdout)["lines"]] == ["9.00", "18.00"]
    p = run("--plan", plan, *PERIOD, "--kwh", "1", "--sanctioned-kva", "4.5",
            "--intervals", str(csv), "--demand-window-min", "30")
    assert [x["amount"] for x in json.loads(p.stdout)["lines"]] == ["9.00", "12.00"]
    p = run("--plan", plan, *PERIOD, "--kwh", "1", "--intervals", str(csv))
    assert p.returncode == 2 and "needs the quantity sanctioned_kva (--sanctioned-kva)" in p.stderr


def test_the_service_command_line_is_unchanged():
    """`python -m gateway --db ...` still parses the service's flags (no subcommand)."""
    p = subprocess.run([sys.executable, "-m", "gateway", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--db" in p.stdout and "--api-key-file" in p.stdout
    p = subprocess.run([sys.executable, "-m", "gateway", "--db", "x.db", "--password", "pw"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--password is not accepted" in p.stderr


DEMAND = ('{"format": 2, "lines": [{"id": "md", "name": "Demand", "type": "unit", '
          '"quantity": "max_demand_kw", "rate": "300", "per": "month"}]}')


def test_max_demand_from_interval_records(plan_file, tmp_path):
    """--intervals: the max demand of the meters' interval records (gateway/demand.py)."""
    csv_path = tmp_path / "intervals.csv"
    t0 = 1717200000    # 2024-06-01 00:00 UTC
    csv_path.write_text("t_end,wh\n" + "".join(
        "%d,%d\n" % (t0 + 60 * (i + 1), 300 if i < 15 else 100) for i in range(60)))
    plan = plan_file(DEMAND)
    june = ["--from", "2024-06-01", "--to", "2024-06-30", "--kwh", "9"]
    b = json.loads(run("--plan", plan, *june, "--intervals", str(csv_path)).stdout)
    assert b["lines"][0]["base"] == "max_demand_kw x 1 months"
    assert b["lines"][0]["quantity"] == "12" and b["total"] == "3600.00"   # 6000 Wh / 30 min
    p = run("--plan", plan, *june, "--intervals", str(csv_path), "--demand-window-min", "15")
    assert json.loads(p.stdout)["lines"][0]["quantity"] == "18"          # 4500 Wh / 15 min
    csv_path.write_text("t_end,wh\n1717200060,1.5\n")
    p = run("--plan", plan, *june, "--intervals", str(csv_path))
    assert p.returncode == 2 and "line 2: expected two integers t_end,wh" in p.stderr
    csv_path.write_text("time,energy\n")
    p = run("--plan", plan, *june, "--intervals", str(csv_path))
    assert p.returncode == 2 and "must start with the header t_end,wh" in p.stderr
    p = run("--plan", plan, *june, "--intervals", str(csv_path), "--max-demand-kw", "3")
    assert p.returncode == 2 and "not allowed with argument" in p.stderr
    p = run("--plan", plan, *june, "--intervals", str(tmp_path / "none.csv"))
    assert p.returncode == 2 and "cannot read" in p.stderr
