"""`make demo` starts the whole system: broker, gateway, meters running the real firmware;
the first top-up vended by the gateway is accepted by every meter and debited by tariff."""
import re
import subprocess
import sys

from upy import REPO


def test_demo_runs_the_system(tmp_path):
    r = subprocess.run([sys.executable, "-m", "host_tools.demo", "--duration", "16", "--speed",
                        "120", "--meters", "2", "--dir", str(tmp_path / "demo")],
                       cwd=str(REPO), capture_output=True, text=True, timeout=120)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr[-3000:]
    assert "consumer page http://127.0.0.1:" in out
    # the operator console: its URL with an admin login, on a fixed port unless taken
    assert re.search(r"console  http://127\.0\.0\.1:\d+/   log in as admin, password \S{12,}", out)
    assert "--utc-offset-min 330" in out and sys.executable + " -m gateway.browse" in out
    assert len(re.findall(r"top-up   m-00\d: token \d{9} for 200.00", out)) == 2
    last = out.strip().split("\n\n")[-1].splitlines()[-2:]
    for row in last:
        meter, source, link, w, v, wh, seq, credit = row.split()
        assert link == "online" and int(seq) > 0 and int(wh) > 0
        assert 0 < int(credit) < 20000          # topped up, then debited at the TOU tariff
