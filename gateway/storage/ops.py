"""The operations a write batch is made of (gateway/storage/writer.py), one class each.

Ingest turns every valid message into one of these; the writer applies a list of them in
one transaction. Each class (bar Records, which the writer stores for all meters at once)
has `apply(cur, meter, notes, stats)`: `meter` is the MeterState of its registered meter
(None for a DeadLetter), `notes` collects (kind, meter id, data) for the listeners after the
commit, `stats` is the writer's counters. apply returns the operation's result.

An operation for a meter that is not registered is dead-lettered, never dropped
(`Op.unregistered`).
"""
import json
import time

from gateway import outbox, schema
from gateway.storage.meters import STATUS


class Op:
    __slots__ = ("meter_id", "data")
    kind = None   # its name in listener notes and dead-letter topics

    def __init__(self, meter_id, data):
        self.meter_id = meter_id
        self.data = data

    def __repr__(self):
        return "%s(%r, %r)" % (type(self).__name__, self.meter_id, self.data)

    def unregistered(self):
        """The dead letter that replaces this operation when its meter is not registered."""
        return DeadLetter("store/%s/%s" % (self.kind, self.meter_id),
                          json.dumps({self.kind: self.data}, default=list).encode(),
                          "meter not registered")


class Records(Op):
    """Interval records (tuples in prepay.record.FIELDS order) -> how many were new."""
    __slots__ = ()
    kind = "records"

    @property
    def records(self):
        return self.data


class Events(Op):
    """Event dicts -> how many were stored (a replayed event with its `seq` is kept once)."""
    __slots__ = ()
    kind = "events"

    def apply(self, cur, m, notes, stats):
        n = 0
        for ev in self.data:
            eseq = ev.get("seq") if isinstance(ev.get("seq"), int) else None
            cur.execute("INSERT OR IGNORE INTO events(mid, t, kind, eseq, data, recv)"
                        " VALUES (?,?,?,?,?,?)",
                        (m.mid, int(ev.get("t") or 0), str(ev.get("kind", "?")), eseq,
                         json.dumps(ev, sort_keys=True), int(time.time())))
            n += cur.rowcount
        stats["events"] += n
        if n:
            notes.append(("events", self.meter_id, self.data))
        return n


class Status(Op):
    """Status fields of the meter (online, last_seen, fw, rssi, errors) -> None."""
    __slots__ = ()
    kind = "status"

    def apply(self, cur, m, notes, stats):
        fields = {k: v for k, v in self.data.items() if k in STATUS}
        if "errors" in fields and not isinstance(fields["errors"], (str, type(None))):
            fields["errors"] = json.dumps(fields["errors"])
        if "online" in fields:
            fields["online"] = 1 if fields["online"] else 0
        if "last_seen" in fields:
            m.last_seen = fields["last_seen"]
        if fields:
            cur.execute("UPDATE meters SET %s WHERE mid=?" % ", ".join(
                "%s=?" % k for k in fields), list(fields.values()) + [m.mid])
            notes.append(("status", self.meter_id, fields))
        return None


class Live(Op):
    """The meter's latest telemetry (tele) -> None."""
    __slots__ = ()
    kind = "live"

    def apply(self, cur, m, notes, stats):
        tele = self.data
        m.last_seen = int(time.time())
        m.dirty = True
        if isinstance(tele.get("rssi"), int):   # signal is tracked with the meter
            cur.execute("UPDATE meters SET rssi=? WHERE mid=?", (tele["rssi"], m.mid))
        cur.execute("INSERT INTO live(mid, t, data) VALUES (?,?,?) ON CONFLICT(mid) DO UPDATE"
                    " SET t=excluded.t, data=excluded.data",
                    (m.mid, int(tele.get("t") or time.time()), json.dumps(tele, sort_keys=True)))
        notes.append(("live", self.meter_id, tele))
        return None


class CommandResult(Op):
    """The meter's answer to a command (res) -> True if it answered one the gateway sent."""
    __slots__ = ()
    kind = "res"

    def apply(self, cur, m, notes, stats):
        return outbox.apply_result(cur, m.mid, self.meter_id, self.data, notes)


class TokenMemory(Op):
    """The meter's token memory [last, used] from tele or info -> transactions reconciled."""
    __slots__ = ()
    kind = "tok"

    def apply(self, cur, m, notes, stats):
        return outbox.apply_tok(cur, m.mid, self.meter_id, self.data, notes)


class DeadLetter:
    """A message that failed validation: its topic, the first schema.DEAD_KEEP bytes of its
    payload, the reason and the payload's full size (ingest may have cut it already) -> None."""
    __slots__ = ("topic", "payload", "reason", "size")
    kind = "dead"
    meter_id = None

    def __init__(self, topic, payload, reason, size=None):
        self.topic, self.payload, self.reason = topic, payload, reason
        self.size = len(payload) if size is None else size

    def __repr__(self):
        return "DeadLetter(%r, %r)" % (self.topic, self.reason)

    @property
    def data(self):
        return self.payload

    def apply(self, cur, m, notes, stats):
        cur.execute("INSERT INTO dead_letters(t, topic, payload, reason, size)"
                    " VALUES (?,?,?,?,?)", (time.time(), str(self.topic)[:512],
                                            bytes(self.payload[:schema.DEAD_KEEP]),
                                            str(self.reason)[:512], self.size))
        stats["dead"] += 1
        notes.append(("dead", None, {"topic": str(self.topic), "reason": str(self.reason)}))
        return None


OPS = (Records, Events, Status, Live, CommandResult, TokenMemory, DeadLetter)
