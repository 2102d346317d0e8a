"""python -m gateway: ingest + REST API + live stream + Home Assistant discovery in one process.

    python -m gateway --db build/gateway.db --broker 127.0.0.1:1883 --user gateway \
        --password PW --api-port 8080 --api-key KEY

Several workers share the load through an MQTT shared subscription: give each the same
--share NAME and its own --client-id (docs/gateway.md).
"""
import argparse
import os
import signal
import sys
import threading


def broker(v):
    host, _, port = v.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % v)
    return host, int(port)


def sim_clock(v):
    try:
        epoch, speed = (int(x) for x in v.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected EPOCH,SPEED (integers), got %r" % v)
    return epoch, speed


def parser():
    ap = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, help="SQLite database file (created if absent)")
    ap.add_argument("--broker", type=broker, default=("127.0.0.1", 1883), help="HOST:PORT")
    ap.add_argument("--user", default="gateway", help="MQTT username")
    ap.add_argument("--password", default=os.environ.get("GATEWAY_MQTT_PASSWORD", ""),
                    help="MQTT password (default: $GATEWAY_MQTT_PASSWORD)")
    ap.add_argument("--prefix", default="pm", help="topic prefix (mqtt.prefix of the meters)")
    ap.add_argument("--client-id", default="gateway", help="MQTT client id (unique per worker)")
    ap.add_argument("--share", default="", help="shared-subscription group ($share/NAME/...)")
    ap.add_argument("--shared-db", action="store_true",
                    help="other workers write the same database file (see docs/gateway.md)")
    ap.add_argument("--api-host", default="127.0.0.1")
    ap.add_argument("--api-port", type=int, default=8080)
    ap.add_argument("--api-key", action="append",
                    help="key for write endpoints (repeatable; default: $GATEWAY_API_KEY)")
    ap.add_argument("--retention-days", type=float, default=90,
                    help="keep raw interval records this long (aggregates are kept forever)")
    ap.add_argument("--utc-offset-min", type=int, default=0,
                    help="local time of fleet-wide day boundaries, minutes east of UTC")
    ap.add_argument("--tariff", action="append", metavar="FILE",
                    help="load a tariff document (JSON) at start; its name is its 'name' or file stem")
    ap.add_argument("--no-ha-discovery", dest="ha_discovery", action="store_false",
                    help="do not publish Home Assistant discovery configs")
    ap.add_argument("--ha-prefix", default="homeassistant", help="HA discovery prefix")
    ap.add_argument("--sim-clock", type=sim_clock, metavar="EPOCH,SPEED",
                    help="serve meters' time requests from a simulated clock that reads EPOCH "
                         "at start and runs SPEED times real time (fleets on the unix port's "
                         "accelerated clock; see host_tools/fleet.py)")
    return ap


def main(argv=None):
    a = parser().parse_args(argv)
    if not a.api_key and os.environ.get("GATEWAY_API_KEY"):
        a.api_key = [os.environ["GATEWAY_API_KEY"]]
    from gateway.service import Gateway
    gw = Gateway(a).start()
    print("gateway: api %s, broker %s:%d, db %s" % (gw.server.url, a.broker[0], a.broker[1], a.db),
          flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    gw.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
