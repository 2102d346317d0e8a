"""Credentials reach `python -m gateway` through the environment or a file, never its command
line, which `ps` shows to every user of the machine. The running gateway is tested on SQLite
and on PostgreSQL (`db`, tests/conftest.py), whose password libpq reads from PGPASSWORD."""
import json
import subprocess
import sys
import urllib.request

import pytest

from gateway_process import REPO, GatewayProcess

PASSWORD = "mqtt-" + "pw" * 8
KEYS = ["key-one-" + "x" * 12, "key-two-" + "y" * 12]
DB_PASSWORD = "pg-" + "secret" * 4     # the test cluster trusts loopback: libpq sends it unasked


def post(url, path, body, key):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def get(url, path, key):
    req = urllib.request.Request(url + path, headers={"X-API-Key": key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def test_running_gateway_has_no_secret_in_its_command_line(broker_factory, tmp_path, db):
    b = broker_factory(users={"gateway": PASSWORD})
    gw = GatewayProcess(tmp_path, b, PASSWORD, KEYS, db=db())
    gw.env["PGPASSWORD"] = DB_PASSWORD
    with gw:   # connected: the file's password
        # what ps shows every user (procps reads this file)
        cmdline = open("/proc/%d/cmdline" % gw.proc.pid, "rb").read().decode()
        assert "--password-file" in cmdline and str(gw.db) in cmdline
        for secret in [PASSWORD, DB_PASSWORD] + KEYS:
            assert secret not in cmdline
        assert post(gw.url, "/api/meters", {"id": "m-1"}, KEYS[1]) == 201   # keys from env
        assert post(gw.url, "/api/meters", {"id": "m-2"}, "wrong") == 401
        seen = get(gw.url, "/api/health", KEYS[0]) + get(gw.url, "/metrics", KEYS[0])
    seen += gw.log()
    assert "database" in seen
    for secret in [PASSWORD, DB_PASSWORD] + KEYS:
        assert secret not in seen


def test_api_key_file(broker_factory, tmp_path, db):
    b = broker_factory(users={"gateway": PASSWORD})
    keyfile = tmp_path / "keys"
    keyfile.write_text("\n".join(KEYS) + "\n")
    gw = GatewayProcess(tmp_path / "gw", b, PASSWORD, extra=["--api-key-file", str(keyfile)],
                        db=db())
    gw.env["GATEWAY_API_KEYS"] = "ignored-when-a-file-is-given"
    with gw:
        assert post(gw.url, "/api/meters", {"id": "m-1"}, KEYS[0]) == 201
        assert post(gw.url, "/api/meters", {"id": "m-2"}, "ignored-when-a-file-is-given") == 401


def test_publishing_login_from_a_file(broker_factory, tmp_path):
    """--out-user: acks and commands on their own login (gateway/ingest.py), its password
    from a file: both connections up, neither password on the command line."""
    out_pw = "out-" + "pw" * 8
    b = broker_factory(users={"gateway": PASSWORD, "gateway-out": out_pw},
                       gateway_users=("gateway", "gateway-out"))
    pw = tmp_path / "out-password"
    pw.write_text(out_pw + "\n")
    gw = GatewayProcess(tmp_path / "gw", b, PASSWORD, KEYS,
                        extra=["--out-user", "gateway-out", "--out-password-file", str(pw)])
    with gw:
        with urllib.request.urlopen(gw.url + "/api/health", timeout=10) as r:
            st = json.loads(r.read())["broker"]["stats"]
        assert st["in_connected"] and st["out_connected"] and st["out_refused"] == 0, st
        cmdline = open("/proc/%d/cmdline" % gw.proc.pid, "rb").read().decode()
        assert "--out-password-file" in cmdline
        assert PASSWORD not in cmdline and out_pw not in cmdline


@pytest.mark.parametrize("argv,msg", [
    (["--password", PASSWORD], "$GATEWAY_MQTT_PASSWORD or --password-file"),
    (["--out-password", PASSWORD], "$GATEWAY_MQTT_OUT_PASSWORD or --out-password-file"),
    (["--out-password-file", "/nonexistent/o"], "cannot read /nonexistent/o"),
    (["--out-user", "gateway-out"], "--out-user needs its password"),
    (["--password=" + PASSWORD], "$GATEWAY_MQTT_PASSWORD or --password-file"),
    (["--api-key", KEYS[0]], "$GATEWAY_API_KEYS (comma-separated) or --api-key-file"),
    (["--password-file", "/nonexistent/pw"], "cannot read /nonexistent/pw"),
    (["--api-key-file", "/nonexistent/keys"], "cannot read /nonexistent/keys"),
    # alerting's secrets and settings (gateway/alert_service.py)
    (["--webhook-secret", PASSWORD], "$GATEWAY_WEBHOOK_SECRET or --webhook-secret-file"),
    (["--smtp-password=" + PASSWORD], "$GATEWAY_SMTP_PASSWORD or --smtp-password-file"),
    (["--webhook-secret-file", "/nonexistent/s"], "cannot read /nonexistent/s"),
    (["--smtp-password-file", "/nonexistent/p"], "cannot read /nonexistent/p"),
    (["--smtp", "mail.example.org"], "expected HOST:PORT"),
    (["--alert-every-s", "x"], "invalid float value"),
])
def test_secret_options_are_refused(tmp_path, argv, msg):
    p = subprocess.run([sys.executable, "-m", "gateway", "--db", str(tmp_path / "g.db")] + argv,
                       cwd=str(REPO), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and msg in p.stderr, p.stderr
    assert PASSWORD not in p.stderr and KEYS[0] not in p.stderr
    assert not (tmp_path / "g.db").exists()


@pytest.mark.parametrize("cmd", [[], ["bill-run", "--period", "2024-06"]])
def test_database_password_in_the_url_is_refused(cmd):
    """argv is public: a PostgreSQL password goes in PGPASSWORD or a .pgpass file."""
    url = "postgresql://gateway:%s@127.0.0.1:5432/gw" % PASSWORD
    p = subprocess.run([sys.executable, "-m", "gateway"] + cmd + ["--db", url],
                       cwd=str(REPO), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "PGPASSWORD or a .pgpass file" in p.stderr, p.stderr
    assert PASSWORD not in p.stderr
