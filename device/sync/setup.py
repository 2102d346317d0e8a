# Sync built at boot from the config, with umqtt.simple's sockets bounded: boot-only code
# that the meter's boot (meter_setup.py) loads, runs once and drops (0.6 KB of the loose
# bundle's 32-bit heap, which the loose soak at 120k needs).
from prepay import topics as T
from umqtt import simple
from sync import timeout_socket
from sync.mqtt import Sync


def from_config(cfg, board, net, dns, journal, events, remote, telemetry, describe):
    """-> the Sync (its constructor documents the arguments)."""
    c = cfg
    mid = c["meter.id"]
    timeout_socket.timeout_s = c["mqtt.timeout_ms"] / 1000
    simple.socket = timeout_socket      # bound every blocking call of umqtt.simple
    timeout_socket.resolver = dns       # its lookups: the address resolved before connecting
    tls = c["mqtt.tls"]
    if tls:
        ca = c["mqtt.ca"]
        timeout_socket.use_tls(ca if ca[:1] == "/" else board.root.rstrip("/") + "/" + ca,
                               c["mqtt.host"])
    return Sync(board, net, dns, journal, events, remote, telemetry, describe,
                (mid, c["mqtt.host"], c["mqtt.port"], c["mqtt.user"], c["mqtt.password"],
                 c["mqtt.keepalive_s"]),
                c["mqtt.tele_s"] * 1000, max(1, min(c["mqtt.batch"], T.REC_MAX)), tls,
                c["mqtt.prefix"] + "/" + mid + "/")
