"""MQTT over TLS (docs/broker.md), on real parts: mosquitto with a TLS listener and a CA made
for this run (tests/conftest.py tls_ca), meters running the real firmware (frozen into the
unix port, linked with mbedTLS), the gateway's ingest over TLS too. A meter syncs and
accepts a vended token over TLS with the broker's plain meters' listener turned off; a
meter holding another CA, or none, does not connect and says why; provisioning's
deployment config starts a working broker."""
import getpass
import json
import ssl
import subprocess
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from broker import Broker, free_port
from waits import wait_until
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools import frozen
from host_tools.broker import MOSQUITTO
from host_tools.fleet import Fleet
from host_tools.provision import Provisioner
from host_tools.tlsca import CA
from prepay import opaygo
from prepay import protocol as P

T0 = 1767225600



def page(m, name):
    """The meter's own JSON API (docs/web.md): /api/status, /api/live."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/%s" % (m.web_port, name),
                                timeout=5) as r:
        return json.loads(r.read())


def sync_stats(m):
    try:
        return page(m, "status")["sync"]
    except OSError:
        return {}


def credit(m):
    return page(m, "live")["credit"]["credit"]


def connect(host, port, user, password, ca=None, timeout=5):
    """One paho connection: its reason code, or the exception connecting raised."""
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)
    c.username_pw_set(user, password)
    if ca:
        c.tls_set(ca_certs=str(ca))
    c.on_connect = lambda c, u, f, r, p: got.append(r)
    try:
        c.connect(host, port)
    except (OSError, ssl.SSLError) as e:
        return e
    c.loop_start()
    wait_until(lambda: got, timeout, 0.05)
    c.disconnect()
    c.loop_stop()
    return got[0] if got else None


def test_meter_syncs_over_tls_and_accepts_a_vended_token(tmp_path, tls_ca):
    tls_port = free_port()
    store = Store(tmp_path / "gw.db")
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", tls_port, n=1, speed=60, store=store,
                  epoch=T0, config={"mqtt": {"tele_s": 60}}, web_port=free_port(),
                  ca=tls_ca.ca)
    m = fleet[0]
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, tls=tls_ca,
                    tls_port=tls_port, plain=False).start()
    ing = Ingest(store, broker.host, broker.gw_port, *fleet.gateway, clock=fleet.meter_time,
                 client_id="gw-tls", ca=tls_ca.ca).start()
    fleet.fw = frozen.firmware()
    fleet.start()
    try:
        assert broker.port is None                    # no plain listener for meters
        assert "listener %d" % tls_port in broker.conf.read_text()
        assert ing.wait_connected()
        assert wait_until(lambda: store.meter(m.id)["online"], 30), (sync_stats(m), m.console())
        assert wait_until(lambda: store.high_contiguous(m.id) >= 1, 30), m.console()
        key, start = store.secret(m.id)
        code, _ = opaygo.Codec(key, start).vend(7, 0)
        credit0 = credit(m)
        assert ing.send_command(m.id, P.TOKEN, id="tx-tls", code=code)
        assert wait_until(lambda: credit(m) > credit0, 20), m.console()
        st = sync_stats(m)
        assert (st["online"], st["tls"], st["tls_fails"], st["conn_fails"]) == \
            (True, True, 0, 0), st
        assert ing.stats["dead_letters"] == 0       # telemetry with tls_fails is valid
        # the meter's password over plain MQTT: nothing listens for it on the TLS port
        pw = fleet.prov.meter(m.id)["password"]
        rc = connect(broker.host, tls_port, m.id, pw)
        assert rc is None or isinstance(rc, Exception) or rc.is_failure, rc
    finally:
        fleet.stop()
        ing.stop()
        broker.stop()
        store.close()


def test_wrong_or_missing_ca_does_not_connect_and_says_why(tmp_path, tls_ca):
    """m-001 holds another CA's certificate; m-002's CA file is gone from its flash. Neither
    connects; both count tls_fails and show the reason, and keep retrying."""
    other = CA(tmp_path / "other-ca", name="someone else")
    tls_port = free_port()
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", tls_port, n=2, speed=60, epoch=T0,
                  web_port=free_port(), ca=other.ca)
    (fleet[1].root / "ca.pem").unlink()
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, tls=tls_ca,
                    tls_port=tls_port, plain=False).start()
    fleet.fw = frozen.firmware()
    fleet.start()
    try:
        assert wait_until(lambda: all(sync_stats(m).get("tls_fails", 0) >= 3 for m in fleet),
                          30), [sync_stats(m) for m in fleet]
        wrong, missing = sync_stats(fleet[0]), sync_stats(fleet[1])
        for st in (wrong, missing):
            assert st["online"] is False and st["connects"] == 0
            assert st["conn_fails"] >= st["tls_fails"] >= 3
        assert "ertificate" in wrong["last_error"] or "X509" in wrong["last_error"], wrong
        assert "mqtt.ca" in missing["last_error"], missing
        print("\nlast_error: wrong CA %r; no CA file %r"
              % (wrong["last_error"], missing["last_error"]))
        assert "as m-00" not in broker.log()          # nobody got in
    finally:
        fleet.stop()
        broker.stop()


def test_provisioned_deployment_config_runs(tmp_path, tls_ca):
    """provision --tls writes the broker's mosquitto.conf: meters over TLS with their
    password, the gateway on its own listener, a meter's password refused there."""
    meters_port, gw_port = free_port(), free_port()
    p = Provisioner(tmp_path / "prov")
    p.add_meter("m-001", tmp_path / "m-001", "127.0.0.1", meters_port, ca=tls_ca.ca)
    cfg = json.loads((tmp_path / "m-001" / "config.json").read_text())
    assert (cfg["mqtt"]["tls"], cfg["mqtt"]["ca"]) == (True, "ca.pem")
    assert (tmp_path / "m-001" / "ca.pem").read_bytes() == tls_ca.ca.read_bytes()
    p.write_broker_files(tls=tls_ca, meters=("127.0.0.1", meters_port),
                         gateway=("127.0.0.1", gw_port))
    conf = tmp_path / "run.conf"
    conf.write_text("user %s\n" % getpass.getuser()
                    + (tmp_path / "prov" / "mosquitto.conf").read_text())
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        pw = p.meter("m-001")["password"]
        ok = lambda rc: rc is not None and not isinstance(rc, Exception) and not rc.is_failure
        assert wait_until(lambda: ok(connect("127.0.0.1", meters_port, "m-001", pw,
                                             ca=tls_ca.ca)), 10)
        assert ok(connect("127.0.0.1", gw_port, *p.gateway, ca=tls_ca.ca))
        assert not ok(connect("127.0.0.1", gw_port, "m-001", pw, ca=tls_ca.ca))
        assert not ok(connect("127.0.0.1", meters_port, "m-001", pw))     # plain: no
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("doc,err", [
    ({"meter": {"id": "m-1"}, "mqtt": {"tls": True}}, "mqtt.ca: required"),
    ({"meter": {"id": "m-1"}, "mqtt": {"tls": "yes", "ca": "ca.pem"}}, "mqtt.tls: expected bool"),
    ({"meter": {"id": "m-1"}, "mqtt": {"ca": 5}}, "mqtt.ca: expected str"),
])
def test_tls_settings_are_validated(doc, err):
    from prepay.settings import validate
    _, errors = validate(doc)
    assert any(err in e for e in errors), errors


def test_missing_ca_is_refused_by_the_tools(tmp_path, capsys):
    """provision --tls with no CA there does not make a new one; the gateway refuses a CA
    file it cannot read."""
    from gateway.__main__ import parser
    from host_tools import provision
    with pytest.raises(SystemExit) as e:
        provision.main(["--dir", str(tmp_path / "prov"), "--id", "m-001",
                        "--root", str(tmp_path / "m-001"), "--tls", str(tmp_path / "typo")])
    assert "no CA in" in str(e.value)
    assert not (tmp_path / "typo").exists() and not (tmp_path / "m-001").exists()
    with pytest.raises(SystemExit):
        parser().parse_args(["--db", "x.db", "--ca", str(tmp_path / "none.pem")])
    assert "no readable CA certificate" in capsys.readouterr().err
