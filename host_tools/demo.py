"""`make demo`: the whole system on this machine, with the real firmware.

    python -m host_tools.demo [--meters 4] [--speed 1] [--duration 0] [--dir build/demo]
                              [--plain] [--port 8080]

Starts a mosquitto broker (per-meter credentials and ACLs from provisioning; meters and
gateway over TLS with a CA made for the demo, or plain MQTT with --plain), the gateway
(ingest, billing API, live stream, Home Assistant discovery) and a fleet of meters running
the real firmware, frozen into the unix-port MicroPython under a 128k heap: half read a
simulated PZEM-004T over a pty, half sample the simulated analog front-end. The gateway vends each meter a first
top-up token, which travels over MQTT and is verified by the meter itself. Then it prints
a live table from the gateway's API until Ctrl-C (or --duration seconds).

The operator console is at the printed URL (port 8080 unless taken), with an admin login
printed beside it (and kept 0600 in <dir>/console-login). The meters are registered with the
tariff they run and a default billing plan, so costs and bills are real at once. The meters
run on real time by default, as the gateway does; --speed N runs their clock N times faster
(a quick look at consumption, but their records then lie in the gateway's future).
"""
import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from host_tools import frozen, secretfile
from host_tools.broker import Broker, free_port
from host_tools.fleet import Fleet
from host_tools.tlsca import CA

REPO = Path(__file__).resolve().parent.parent
API_KEY = secrets.token_hex(16)   # per run; written 0600 to <dir>/api-key for the user
TARIFF = REPO / "host_tools" / "tariffs" / "domestic-tou.json"
CONSOLE_PORT = 8080
OPERATOR = "admin"
# the default billing plan: the meter's own time-of-use tariff, a fixed charge and a tax
PLAN = {"name": "Demo domestic", "currency": "INR", "energy": {"type": "tou"},
        "fixed": [{"name": "Fixed charge", "per_month": 5000}],
        "taxes": [{"name": "Electricity duty", "percent": 5, "on": ["energy", "standing", "fixed"]}]}


def api(base, path, body=None, method=None):
    req = urllib.request.Request(base + path, method=method or ("POST" if body is not None else "GET"),
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-API-Key": API_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def wait_http(url, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def table(base, fleet):
    rows = []
    for m in fleet.meters:
        rt = api(base, "/api/meters/%s/realtime" % m.id)
        cr = api(base, "/api/meters/%s/credit" % m.id)
        tele = rt.get("telemetry") or {}
        rec = rt.get("last_record") or {}
        rows.append("%-7s %-7s %-7s %8.1f %8.1f %9s %6s  %s" % (
            m.id, m.source, "online" if rt["online"] else "offline",
            tele.get("p", 0), tele.get("v", 0), rec.get("wh", "-"),
            rec.get("seq", "-"), cr.get("credit", "-")))
    return "\n".join(["%-7s %-7s %-7s %8s %8s %9s %6s  %s" % (
        "meter", "source", "link", "W", "V", "Wh", "seq", "credit (paise)")] + rows)


def console_port(want):
    """The fixed port when it is free, else any free one (printed with the console URL)."""
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", want))
            return want
        except OSError:
            return free_port()


def add_operator(db, run):
    """An admin for the console, with a fresh password (python -m gateway user add)."""
    password = secrets.token_urlsafe(12)
    subprocess.run([sys.executable, "-m", "gateway", "user", "add", OPERATOR, "--role", "admin",
                    "--db", str(db)], input=password + "\n", text=True, check=True, cwd=str(REPO),
                   stdout=subprocess.DEVNULL)
    secretfile.write(run / "console-login", "%s %s\n" % (OPERATOR, password))
    return password


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meters", type=int, default=4)
    ap.add_argument("--speed", type=int, default=1, help="meter seconds per real second (above "
                    "1 the meters' clock runs ahead of the gateway's)")
    ap.add_argument("--port", type=int, default=CONSOLE_PORT,
                    help="the gateway's HTTP port: console and API (another is taken if busy)")
    ap.add_argument("--duration", type=float, default=0, help="stop after N s (0: Ctrl-C)")
    ap.add_argument("--dir", default=str(REPO / "build" / "demo"))
    ap.add_argument("--plain", action="store_true", help="plain MQTT instead of TLS")
    a = ap.parse_args(argv)
    print("firmware frozen into the unix-port MicroPython (a first run fetches MicroPython's "
          "source and compiles it: about a minute)", flush=True)
    fw = frozen.firmware()
    print("firmware %s" % fw)
    run = Path(a.dir)
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    port, api_port, web_port = free_port(), console_port(a.port), 18080
    ca = None if a.plain else CA(run / "ca")     # the meters' and gateway's trust anchor
    epoch = int(time.time())
    db = run / "gateway.db"
    fleet = Fleet(run / "meters", "127.0.0.1", port, a.meters, speed=a.speed,
                  source=["pzem", "analog"] * (a.meters // 2) + ["pzem"] * (a.meters % 2),
                  db=db, epoch=epoch, web_port=web_port, ca=ca.ca if ca else None,
                  config={"tariff": json.loads(TARIFF.read_text()), "meter": {"utc_offset_min": 330}})
    user, password = fleet.gateway
    out_user, out_password = fleet.prov.gateway_out   # acks and commands: their own login
    broker = Broker(run / "mosquitto", passwd=fleet.passwd, acl=fleet.acl,
                    gateway_users=(user, out_user),
                    **({"tls": ca, "tls_port": port, "plain": False} if ca else {"port": port})
                    ).start()
    secretfile.write(run / "api-key", API_KEY + "\n")
    login = add_operator(db, run)
    gw_log = open(run / "gateway.log", "w")
    gw = subprocess.Popen([sys.executable, "-m", "gateway", "--db", str(db), "--broker",
                           "127.0.0.1:%d" % broker.gw_port, "--user", user,
                           "--out-user", out_user,
                           "--api-port", str(api_port),
                           "--tariff", str(TARIFF), "--utc-offset-min", "330",
                           "--sim-clock", "%d,%d" % (epoch, a.speed), "--currency", "INR"]
                          + (["--ca", str(ca.ca)] if ca else []),
                          cwd=str(REPO), stdout=gw_log, stderr=subprocess.STDOUT,
                          env=dict(os.environ, GATEWAY_MQTT_PASSWORD=password,   # not argv:
                                   GATEWAY_MQTT_OUT_PASSWORD=out_password,       # ps shows it
                                   GATEWAY_API_KEYS=API_KEY))
    base = "http://127.0.0.1:%d" % api_port
    try:
        if not wait_http(base + "/api/health"):
            raise SystemExit("gateway did not start: see %s" % (run / "gateway.log"))
        fleet.fw = fw
        fleet.start()
        print("broker   mosquitto on 127.0.0.1:%d%s (per-meter users and ACLs), gateway on :%d"
              % (port, " TLS, CA %s" % ca.ca if ca else "", broker.gw_port))
        print("gateway  %s/api/meters   OpenAPI: %s/openapi.json   metrics: %s/metrics"
              % (base, base, base))
        tariff = json.loads(TARIFF.read_text())["name"]
        api(base, "/api/billing/plans/default", PLAN, method="PUT")
        for m in fleet.meters:   # the tariff each meter runs, and the plan to bill it by
            api(base, "/api/meters", {"id": m.id, "tariff": tariff, "billing_plan": "default"})
        print("console  %s/   log in as %s, password %s (also in %s)"
              % (base, OPERATOR, login, run / "console-login"))
        print("api key  in %s (header X-API-Key)" % (run / "api-key"))
        print("browse   %s -m gateway.browse %s --utc-offset-min 330" % (sys.executable, db))
        for i, m in enumerate(fleet.meters):
            print("meter    %s (%s): consumer page http://127.0.0.1:%d/" % (m.id, m.source, web_port + i))
        # each meter joins its WiFi (~3 s) and then MQTT: a command sent before its first
        # session exists would not be kept for it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                api(base, "/api/meters/%s/realtime" % m.id).get("online") for m in fleet.meters):
            time.sleep(0.2)
        for m in fleet.meters:     # first top-up: vended by the gateway, verified by the meter
            tx = api(base, "/api/meters/%s/topup" % m.id, {"amount": 20000, "ref": "demo"})
            print("top-up   %s: token %s for 200.00" % (m.id, tx.get("token")))
        end = time.monotonic() + a.duration if a.duration else None
        while end is None or time.monotonic() < end:
            time.sleep(5)
            print("\n" + time.strftime("%H:%M:%S") + " (meter clock x%d)\n" % a.speed
                  + table(base, fleet), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
        gw.terminate()
        gw.wait(10)
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
