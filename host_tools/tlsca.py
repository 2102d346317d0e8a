"""A private certificate authority for MQTT over TLS: a CA and the broker's certificate,
made with the openssl command (Debian `openssl`).

    from host_tools.tlsca import CA
    ca = CA(dir)                  # made once: dir/ca.pem, dir/server.pem, dir/server.key
    ca.ca, ca.cert, ca.key        # the meters' and gateway's trust anchor; the broker's pair

    python -m host_tools.tlsca DIR [HOST ...]      # a deployment's (HOST: the broker's names)

Tests make one per run (tests/conftest.py), the demo one per demo; a deployment runs it
once, keeps DIR/ca.key offline and gives ca.pem to provisioning (`--ca`), which copies it
onto each meter (mqtt.ca). Keys are EC P-256: small certificates (the meter parses the CA
on every connect) and the cheapest handshake an ESP32 can do. The broker's name goes in
both as a DNS name and, for an address, an IP address: mbedTLS 2.x (Debian 12's, which the
unix-port meter links) matches only DNS names, OpenSSL (paho, mosquitto) only addresses.
"""
import ipaddress
import subprocess
import sys
from pathlib import Path

DAYS = 825


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.strip()))


def _alt_names(hosts):
    names = []
    for h in hosts:
        names.append("DNS:" + h)
        try:
            ipaddress.ip_address(h)
            names.append("IP:" + h)
        except ValueError:
            pass
    return ",".join(names)


class CA:
    def __init__(self, workdir, hosts=("127.0.0.1", "localhost"), name="prepay meters",
                 create=True):
        self.dir = Path(workdir)
        self.ca = self.dir / "ca.pem"
        self.cert = self.dir / "server.pem"
        self.key = self.dir / "server.key"
        if not (self.cert.exists() and self.ca.exists()):
            if not create:   # a mistyped directory must not silently become a new CA
                raise FileNotFoundError("no CA in %s (make one: python -m host_tools.tlsca %s "
                                        "BROKER_HOST)" % (self.dir, self.dir))
            self._make(list(hosts), name)

    def _make(self, hosts, name):
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", str(DAYS),
                 "-subj", "/CN=%s CA" % name, "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        _openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
                 "-subj", "/CN=%s" % hosts[0], cwd=d)
        (d / "server.ext").write_text(
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n"
            % _alt_names(hosts))
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", str(DAYS), "-sha256", "-extfile", "server.ext",
                 "-out", "server.pem", cwd=d)
        for f in ("ca.key", "server.key"):
            (d / f).chmod(0o600)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    ca = CA(sys.argv[1], sys.argv[2:] or ("127.0.0.1", "localhost"))
    print("ca %s\ncert %s\nkey %s" % (ca.ca, ca.cert, ca.key))
