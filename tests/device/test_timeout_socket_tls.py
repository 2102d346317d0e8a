"""device/sync/timeout_socket.py over TLS, under both interpreters a meter's code runs on here
(the pip-installed unix port the module tests use, Mbed TLS 3.6.6, and the firmware's own frozen
one, host_tools/frozen.py), with umqtt.simple against a real mosquitto's TLS listener: the
right CA connects; another CA, a CA file that is not a certificate, a broker that never
answers the handshake and a plain MQTT port each fail with an OSError or ValueError that the
sync loop turns into a retry, and count tls_fails. The silent broker shows the handshake
stays bounded by the socket timeout (without the bound the process would hang)."""
import json
import socket
import subprocess
import threading

import pytest

import upy
from host_tools import frozen
from host_tools.tlsca import CA

SCRIPT = """
import json
from sync import timeout_socket
from umqtt import simple
simple.socket = timeout_socket
timeout_socket.timeout_s = 0.08
timeout_socket.use_tls(%(ca)r, "127.0.0.1")
c = simple.MQTTClient("m-1", "127.0.0.1", %(port)d, "m-1", "pw-1", 30)
try:
    timeout_socket.turn()            # a turn's socket budget, as Sync opens one after each await
    c.connect(False)
    timeout_socket.turn()
    c.publish(b"pm/m-1/tele", b"{}", False, 0)
    out = {"ok": True}
except Exception as e:
    out = {"ok": False, "error": repr(e)}
out["tls_fails"] = timeout_socket.tls_fails
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def rig(tmp_path_factory, tls_ca):
    from host_tools.broker import Broker
    d = tmp_path_factory.mktemp("timeout_socket")
    b = Broker(d / "mq", users={"m-1": "pw-1"}, tls=tls_ca).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held = []

    def hold():                 # accept and never answer, until the rig closes the socket
        try:
            for _ in range(8):
                held.append(silent.accept())
        except OSError:
            pass
    threading.Thread(target=hold, daemon=True).start()
    other = CA(d / "other", name="another")
    junk = d / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                    "-----END CERTIFICATE-----\n")
    yield {"broker": b, "silent": silent.getsockname()[1], "other": other.ca, "junk": junk,
           "ca": tls_ca.ca}
    b.stop()
    silent.close()


def interpreters():
    return [pytest.param(lambda: upy.MICROPYTHON, id="pip"),
            pytest.param(lambda: str(frozen.firmware() / "micropython"), id="frozen")]


def run(exe, ca, port):
    r = subprocess.run([exe, "-X", "heapsize=128k", "-c", SCRIPT % {"ca": str(ca), "port": port}],
                       capture_output=True, text=True, timeout=60, env=upy.env(),
                       cwd=str(upy.REPO))
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, r.stdout + r.stderr
    return json.loads(lines[-1])


@pytest.mark.parametrize("exe", interpreters())
def test_right_ca_connects(rig, exe):
    assert run(exe(), rig["ca"], rig["broker"].tls_port) == {"ok": True, "tls_fails": 0}


@pytest.mark.parametrize("case", ["other CA", "not a certificate", "silent broker",
                                  "plain MQTT port"])
@pytest.mark.parametrize("exe", interpreters())
def test_tls_failures_are_errors_and_counted(rig, exe, case):
    ca, port = {"other CA": (rig["other"], rig["broker"].tls_port),
                "not a certificate": (rig["junk"], rig["broker"].tls_port),
                "silent broker": (rig["ca"], rig["silent"]),
                "plain MQTT port": (rig["ca"], rig["broker"].port)}[case]
    out = run(exe(), ca, port)
    print("\n%s: %s" % (case, out["error"]))
    assert out["ok"] is False and out["tls_fails"] == 1, out
    assert out["error"].startswith(("OSError", "ValueError")), out
    if case == "not a certificate":
        assert "mqtt.ca" in out["error"], out
