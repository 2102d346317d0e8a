"""100,000 simulated meters against one gateway (host_tools/fleetsim.py through
tests/fleet_at_scale.py: real mosquitto, `python -m gateway`, SQLite): 1-minute records
sent live, FLEETSIM_OUTAGE of the meters (2 %) back from a 4-hour outage replaying their
journals in batches of 50 while the rest keep sending. Bounded: FLEETSIM_SECONDS of live
traffic (default 90) at FLEETSIM_SPEED simulated seconds per second (default 1: the real
fleet's 1,667 records/s), then the drain (at most 120 s): about 3 minutes in all. Prints
sustained records/s, the ingest lag of live records and the database bytes per meter-day;
the same-run baseline is the live rate the fleet offers.
"""
import os

from fleet_at_scale import simulate
from host_tools import fleetsim

METERS = int(os.environ.get("FLEETSIM_METERS", "100000"))
SECONDS = float(os.environ.get("FLEETSIM_SECONDS", "90"))
SPEED = float(os.environ.get("FLEETSIM_SPEED", "1"))
OUTAGE = float(os.environ.get("FLEETSIM_OUTAGE", "0.02"))


def test_fleet_at_scale(tmp_path):
    r = simulate(tmp_path, METERS, SECONDS, SPEED, outage=OUTAGE)
    print("\nfleet simulator, one gateway (SQLite), %d cores" % os.cpu_count())
    for line in fleetsim.report(r):
        print("  " + line)
    print("  gateway: %(received)d messages in %(batches)d write batches, %(acks)d acks published"
          " (at most %(ack_inflight_max)d in flight), queue up to %(queue_max)d, queue lag up to"
          " %(lag_max_s).1f s" % r["gateway"])
    print("  gateway's ack lag (records committed -> the broker's PUBACK of their ack), last"
          " 10,000 acks: p50 %(ack_lag_p50_s)s s, p99 %(ack_lag_p99_s)s s" % r["gateway"])
    print("  sustained / offered live rate: x%.2f (records/s acked over the whole run,"
          " backlogs included)" % (r["acked_per_s"] / r["offered_live_per_s"]))
    assert r["unacked"] == 0 and r["db_rows"] == r["records"], r
    assert r["db_wh"] == r["energy_wh"], r
