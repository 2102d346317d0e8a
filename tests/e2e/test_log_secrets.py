"""No secret in any log line. A full scenario on real parts: mosquitto with per-meter
passwords, `python -m gateway`, a meter running the real firmware; the API vends a token the
meter accepts, and the gateway user sends the meter a config command that sets its WiFi
password. Then every log (the gateway's stdout and stderr, mosquitto's log, the meter's
console and its simulator's) is searched for every secret: MQTT passwords, token keys and
starting codes, the API key, the vended code, the WiFi password."""
import json
import secrets
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

from broker import Broker, free_port
from gateway_process import GatewayProcess
from host_tools.fleet import Fleet
from prepay import protocol as P
from waits import wait_until

KEY = "log-key-" + secrets.token_hex(12)
WIFI = "wifi-" + secrets.token_hex(10)
LOCKED = "locked-" + secrets.token_hex(10)   # mqtt.password: a config command may not set it
T0 = 1767225600


def api(base, path, body=None, key=KEY):
    req = urllib.request.Request(base + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", "X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def test_no_secret_in_any_log(tmp_path):
    port = free_port()
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=1, speed=60, source="pzem",
                  db=tmp_path / "gw.db", epoch=T0)   # provisioned into the gateway's db
    user, password = fleet.gateway
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    gw = GatewayProcess(tmp_path / "gw", broker, password, [KEY], user=user, db=tmp_path / "gw.db")
    meter = fleet.prov.meter("m-001")
    try:
        gw.start()
        fleet.start()
        assert wait_until(lambda: api(gw.url, "/api/meters/m-001")["online"], 30,
                          errors=(OSError,)), \
            fleet[0].console()[-1500:]
        tx = api(gw.url, "/api/meters/m-001/topup", {"amount": 10000, "ref": "log-test"})
        assert wait_until(lambda: api(gw.url, "/api/meters/m-001/transactions")[
            "transactions"][0]["status"] == "accepted", 30, errors=(OSError,)), \
            fleet[0].console()[-1500:]
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="log-test-admin")
        c.username_pw_set(user, password)
        c.connect("127.0.0.1", broker.gw_port)   # the gateway users' listener
        c.loop_start()
        c.publish(P.cmd_topic("pm", "m-001", P.CONFIG),
                  P.encode(P.CONFIG, id="cfg-1", set={"wifi": {"password": WIFI},
                                                      "mqtt": {"tele_s": 5}}),
                  qos=1).wait_for_publish(10)
        assert wait_until(lambda: api(gw.url, "/api/meters/m-001/events?kind=config_update")[
            "events"], 30, errors=(OSError,)), fleet[0].console()[-1500:]
        # refused requests that carry secrets: a config command setting a locked key, a
        # mistyped token key, a wrong API key
        c.publish(P.cmd_topic("pm", "m-001", P.CONFIG), json.dumps(
            {"ver": 1, "id": "cfg-2", "set": {"mqtt": {"password": LOCKED}}}), qos=1)
        assert api(gw.url, "/api/meters", {"id": "m-001", "token_key": meter["key"] + "f"})[
            "status"] == 400
        assert api(gw.url, "/api/meters/m-001/transactions", key=LOCKED)["status"] == 401
        # the meter's answers (top-up, cfg-1, the refused cfg-2) have reached the gateway
        assert wait_until(lambda: api(gw.url, "/api/health")["broker"]["stats"]["results"]
                          >= 3, 30)
        c.loop_stop()
        c.disconnect()
    finally:
        fleet.stop()
        gw.stop()
        broker.stop()
    # the meter rewrote its config.json (the WiFi password) owner-only, like all its flash
    flash = [p for p in (tmp_path / "fleet" / "m-001").rglob("*") if p.is_file()
             and "config" in p.name]
    assert flash and {str(p): oct(p.stat().st_mode & 0o777) for p in flash} == \
        {str(p): "0o600" for p in flash}
    assert WIFI in (tmp_path / "fleet" / "m-001" / "config.json").read_text()
    logs = {str(p.relative_to(tmp_path)): p.read_text(errors="replace")
            for p in tmp_path.rglob("*.log")}
    logs["mosquitto"] = broker.log()
    assert {"gw/gateway.log", "fleet/m-001/console.log"} <= set(logs) and logs["mosquitto"]
    found = {}
    for name, text in (("gateway MQTT password", password), ("meter MQTT password",
                       meter["password"]), ("token key", meter["key"]),
                       ("token starting code", str(meter["starting_code"])), ("API key", KEY),
                       ("vended token code", tx["token"]), ("WiFi password", WIFI),
                       ("a refused secret", LOCKED)):
        for log, body in logs.items():
            for line in body.splitlines():
                if text in line:
                    found.setdefault(name, []).append("%s: %s" % (log, line[:200]))
    assert "u'm-001'" in logs["mosquitto"] and "pzem_sim: stopped" in logs[
        "fleet/m-001/pzem_sim.log"]
    assert not found, json.dumps(found, indent=1)
