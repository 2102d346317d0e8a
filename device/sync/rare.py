# The rarely run parts of Sync (sync/mqtt.py): its setup at boot, the payloads sent once per
# connection (info) or per meter day (treq), the counters for the status page, and the
# restart a config command asks for. Loaded for each job by Sync._rare and dropped after,
# so their code and constants are not resident.
from prepay import topics as T
from prepay import record
from umqtt import simple
from sync import tsock


def init(s, meter):
    """Sync's state (every attribute) from the config; emits the boot event."""
    s.m = meter
    s.b = meter.board
    c = meter.cfg
    mid = c["meter.id"]
    s.client = (mid, c["mqtt.host"], c["mqtt.port"], c["mqtt.user"], c["mqtt.password"],
                c["mqtt.keepalive_s"])   # umqtt.simple.MQTTClient's arguments
    s.tele_ms = c["mqtt.tele_s"] * 1000
    s.batch = max(1, min(c["mqtt.batch"], T.REC_MAX))
    tsock.timeout_s = c["mqtt.timeout_ms"] / 1000
    simple.socket = tsock            # bound every blocking call of umqtt.simple
    s.pre = c["mqtt.prefix"] + "/" + mid + "/"   # + leaf: a topic
    s._cmdpre = (s.pre + T.CMD + "/").encode()
    s.buf = bytearray(T.REC_HDR + s.batch * record.SIZE)  # one batch, reused
    s.c = None
    s.online = False
    s.cursor = 0        # next seq to send
    s._idle_at = -1     # journal.last() when a read found nothing sendable
    s._ack_t = 0        # real ms of the last ack progress
    ev = meter.events
    s._ev0 = s._ev_r = ev.n   # first event of this boot to send; next to send
    s._cmds = []
    s._treq = (0, 0)    # (id, meter ticks) of the latest time request
    s._reset = False
    # counters (tele, stats)
    s.connects = s.reconnects = s.conn_fails = 0
    s.batches = s.records = s.events_sent = 0
    s.ev_drops = s.ev_bad = s.cmd_drops = s.cmd_rejected = s.cmds = 0
    s.rewinds = s.time_syncs = s.replays = 0
    s.stall_ms = 0      # longest single blocking MQTT call
    s.lag_ms = 0        # worst event-loop lag seen by the probe
    s.last_error = ""
    s._probing = False
    ev.emit("boot", fw=_fw(), boot=meter.journal.boots)


def _fw():
    import meter
    return meter.VERSION


def info(s):
    import board
    m = s.m
    return T.dumps({"fw": _fw(), "board": board.NAME,
                    "source": m.cfg["measure.source"] or board.SOURCE,
                    "interval_s": m.journal.interval_s, "boot": m.journal.boots,
                    "rtc": s.b.rtc_valid(), "t": s.b.time(), "errors": len(m.errors)})


def time_request(s):
    n = s._treq[0] + 1
    s._treq = (n, s.b.ticks_ms())
    s._publish(T.TREQ, T.dumps({"id": n, "t": s.b.time(), "rtc": s.b.rtc_valid()}))


def reset(s):
    m = s.m
    if hasattr(m.credit, "save"):
        m.credit.save()
    m.journal.flush()
    s.b.reset()


def stats(s):
    s._ev_unsent()
    return {"online": s.online, "connects": s.connects, "reconnects": s.reconnects,
            "conn_fails": s.conn_fails, "batches": s.batches, "records": s.records,
            "events": s.events_sent, "ev_drops": s.ev_drops, "ev_bad": s.ev_bad,
            "cmds": s.cmds, "cmd_drops": s.cmd_drops, "cmd_rejected": s.cmd_rejected,
            "rewinds": s.rewinds, "replays": s.replays, "time_syncs": s.time_syncs,
            "stall_ms": s.stall_ms, "lag_ms": s.lag_ms, "cursor": s.cursor,
            "last_error": s.last_error}
