"""python -m gateway: ingest + REST API + live stream + Home Assistant discovery in one process.

    GATEWAY_MQTT_PASSWORD=PW GATEWAY_API_KEYS=KEY python -m gateway --db build/gateway.db \
        --broker 127.0.0.1:1883 --user gateway --api-port 8080

Secrets never come from the command line, where `ps` shows them to every user: the MQTT
password comes from $GATEWAY_MQTT_PASSWORD or --password-file, the API keys from
$GATEWAY_API_KEYS (comma-separated) or --api-key-file (one a line).

`python -m gateway user add NAME --role admin --db FILE` creates an operator of the console
(it prompts for the password; gateway/console/usercli.py).

`python -m gateway bill ...` prints an itemized bill from a plan and given quantities
instead (gateway/billcli.py, docs/billing.md); `bill-run` invoices the fleet for a month
(gateway/billrun.py); `statement` makes prepaid meters' monthly statements
(gateway/statements.py); `browse-export` writes a PostgreSQL database's browsable SQLite
snapshot for datasette (gateway/browse_export.py).

Several workers share the load through an MQTT shared subscription: give each the same
--share NAME and its own --client-id (docs/gateway.md).
"""
import argparse
import os
import signal
import sys
import threading

from gateway import alert_service
from gateway.storage.database import target_arg


def broker(v):
    host, _, port = v.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % v)
    return host, int(port)


def ca_file(v):
    if not os.path.isfile(v) or not os.access(v, os.R_OK):
        raise argparse.ArgumentTypeError("no readable CA certificate at %r" % v)
    return v


def sim_clock(v):
    try:
        epoch, speed = (int(x) for x in v.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected EPOCH,SPEED (integers), got %r" % v)
    return epoch, speed


class Refused(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error("%s is not accepted: any user can read a command line with ps. Use %s"
                     % (option_string, WHERE[option_string]))


WHERE = {"--password": "$GATEWAY_MQTT_PASSWORD or --password-file FILE",
         "--out-password": "$GATEWAY_MQTT_OUT_PASSWORD or --out-password-file FILE",
         "--api-key": "$GATEWAY_API_KEYS (comma-separated) or --api-key-file FILE",
         **alert_service.SECRETS}


def _read(ap, path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        ap.error("cannot read %s: %s" % (path, e.strerror))


def secrets(ap, a, env=os.environ):
    """Set a.password and a.api_key (a list) from the files or the environment."""
    a.password = (_read(ap, a.password_file).strip() if a.password_file
                  else env.get("GATEWAY_MQTT_PASSWORD", ""))
    # the publishing connection's login (acks, commands: gateway/ingest.py), when its own
    a.out_password = (_read(ap, a.out_password_file).strip() if a.out_password_file
                      else env.get("GATEWAY_MQTT_OUT_PASSWORD", ""))
    if a.out_user and not a.out_password:
        ap.error("--out-user needs its password: $GATEWAY_MQTT_OUT_PASSWORD or "
                 "--out-password-file FILE")
    keys = (_read(ap, a.api_key_file).splitlines() if a.api_key_file
            else env.get("GATEWAY_API_KEYS", env.get("GATEWAY_API_KEY", "")).split(","))
    a.api_key = [k.strip() for k in keys if k.strip()]
    return alert_service.secrets(lambda path: _read(ap, path), a, env)


def parser():
    ap = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, type=target_arg,
                    help="SQLite database file (created if absent), or a postgresql://USER@HOST"
                         "/NAME URL (password in PGPASSWORD or PGPASSFILE; docs/gateway.md)")
    ap.add_argument("--broker", type=broker, default=("127.0.0.1", 1883),
                    help="HOST:PORT of the broker's gateway listener (docs/broker.md)")
    ap.add_argument("--ca", metavar="FILE", type=ca_file,
                    help="connect over TLS, verifying the broker's certificate against this "
                         "CA certificate (PEM); --broker then names the TLS port")
    ap.add_argument("--user", default="gateway", help="MQTT username")
    ap.add_argument("--password-file", metavar="FILE",
                    help="read the MQTT password from FILE (default: $GATEWAY_MQTT_PASSWORD)")
    ap.add_argument("--out-user", default="",
                    help="MQTT username of the publishing connection (acks and commands; "
                         "default: --user), e.g. the write-only gateway-out user of "
                         "host_tools/provision.py")
    ap.add_argument("--out-password-file", metavar="FILE",
                    help="read --out-user's password from FILE (default: "
                         "$GATEWAY_MQTT_OUT_PASSWORD)")
    ap.add_argument("--prefix", default="pm", help="topic prefix (mqtt.prefix of the meters)")
    ap.add_argument("--client-id", default="gateway", help="MQTT client id (unique per worker)")
    ap.add_argument("--share", default="", help="shared-subscription group ($share/NAME/...)")
    ap.add_argument("--api-only", action="store_true",
                    help="serve the API (and deliver commands) without ingesting: other "
                         "processes are the ingest workers (docs/gateway.md)")
    ap.add_argument("--shared-db", action="store_true",
                    help="other workers write the same database file (see docs/gateway.md)")
    ap.add_argument("--api-host", default="127.0.0.1")
    ap.add_argument("--api-port", type=int, default=8080)
    ap.add_argument("--api-key-file", metavar="FILE",
                    help="keys for write endpoints, one a line (default: $GATEWAY_API_KEYS, "
                         "comma-separated)")
    for old in ("--password", "--out-password", "--api-key"):   # refused: a secret in argv is public
        ap.add_argument(old, action=Refused, help=argparse.SUPPRESS)
    ap.add_argument("--retention-days", type=float, default=90,
                    help="keep raw interval records this long (aggregates are kept forever)")
    ap.add_argument("--utc-offset-min", type=int, default=0,
                    help="local time of fleet-wide day boundaries, minutes east of UTC")
    ap.add_argument("--tariff", action="append", metavar="FILE",
                    help="load a tariff document (JSON) at start; its name is its 'name' or file stem")
    ap.add_argument("--command-resend-s", type=float, default=30.0, metavar="S",
                    help="publish a command (token, relay, config) again when the meter has not "
                         "answered it for this long")
    ap.add_argument("--command-expire-s", type=float, default=86400.0, metavar="S",
                    help="a command not answered this long after it was queued ends 'expired' "
                         "with an alert")
    ap.add_argument("--command-window", type=int, default=4, choices=range(1, 9), metavar="N",
                    help="a meter's oldest unanswered commands on the wire at once, 1..8 (the "
                         "meter queues 8; OpenPAYGO's window holds 8 tokens)")
    ap.add_argument("--no-ha-discovery", dest="ha_discovery", action="store_false",
                    help="do not publish Home Assistant discovery configs")
    ap.add_argument("--ha-prefix", default="homeassistant", help="HA discovery prefix")
    ap.add_argument("--sim-clock", type=sim_clock, metavar="EPOCH,SPEED",
                    help="serve meters' time requests from a simulated clock that reads EPOCH "
                         "at start and runs SPEED times real time (fleets on the unix port's "
                         "accelerated clock; see host_tools/fleet.py)")
    ap.add_argument("--currency", default="", metavar="CODE",
                    help="currency shown by the operator console, e.g. INR")
    ap.add_argument("--currency-decimals", type=int, default=2, choices=range(0, 4), metavar="N",
                    help="minor units per major unit as a power of ten (2: paise, cents)")
    ap.add_argument("--console-assets", metavar="DIR", default=console_assets_default(),
                    help="the console's chart library, built by host_tools/consoleassets.py "
                         "(default: build/console of this checkout)")
    ap.add_argument("--console-secure-cookies", action="store_true",
                    help="mark console cookies Secure (the console is reached over TLS through "
                         "a proxy)")
    alert_service.add_arguments(ap, broker, Refused)
    return ap


def console_assets_default():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "build", "console")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bill"]:     # a subcommand; the service keeps its own flags unchanged
        from gateway import billcli
        return billcli.main(argv[1:])
    if argv[:1] == ["user"]:   # operator accounts of the console
        from gateway.console import usercli
        return usercli.main(argv[1:])
    if argv[:1] == ["bill-run"]:
        from gateway import billrun
        return billrun.main(argv[1:])
    if argv[:1] == ["statement"]:
        from gateway import statements
        return statements.main(argv[1:])
    if argv[:1] == ["browse-export"]:   # PostgreSQL -> a SQLite snapshot for datasette
        from gateway import browse_export
        return browse_export.main(argv[1:])
    ap = parser()
    a = secrets(ap, ap.parse_args(argv))
    from gateway.service import Gateway
    gw = Gateway(a).start()
    print("gateway: api %s, broker %s:%d, db %s" % (gw.server.url, a.broker[0], a.broker[1],
                                                     gw.store.database.name),
          flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    gw.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
