"""Incremental aggregation: energy, demand and cost per 30-minute slot, per meter and group.

Energy comes from cumulative register deltas between neighbouring records. The delta of the
pair (prev, cur) is booked when the second of the two is stored, whichever order they arrive
in, so live data, late backlog and replays all add each interval exactly once and nothing is
ever rescanned. Neighbours: seq-1 and seq+1; across a gap marker (flags F_GAP, dropped range
lo..seq-1 in the wh field, docs/protocol.md) the record after the marker pairs with the highest
stored record in [lo-1, seq-1], so the energy used during the lost stretch is still counted.
A marker is otherwise a reading of its own interval (records count, demand), just without wh.
Cost: each delta is priced at the rate in force at the end of its interval (gateway/pricing.py),
so cost is exact even when a time-of-use window does not start on a slot boundary.

Reset-safe, like emonCMS's accumulators: a delta that goes backwards (meter replaced, register
reset) or exceeds max_power_w over the elapsed time is excluded and recorded in `anomalies`.
A delta is spread over the 30-minute slots its time span covers (exact integer split), unless
either clock was unsynced, when it is booked to the slot where cur's interval ends.

Hourly, daily, weekly and monthly figures are sums of the 30-minute slots (gateway/queries.py),
which keeps one small upsert per (meter, slot) and per (group, slot) per batch.
"""
import time

from prepay.record import F_GAP, F_UNSYNCED

from gateway import pricing

SLOT = 1800
MAX_SPREAD_S = 31 * 86400  # a longer span is booked to its last slot rather than spread
FLEET = ""                 # group key of the whole fleet in grp30


class Rollup:
    def __init__(self, store, tariffs=None):
        self.store = store
        self.pricing = pricing.Pricing(store, tariffs)
        self.anomalies = 0
        self.begin()

    def reset_meter(self, meter_id):
        """A meter's tariff or group changed (None: all meters)."""
        self.pricing.forget(meter_id)

    def begin(self):
        # (mid, slot) -> [wh, cost_um, n, max_dw, bucket, grp]; the groups' slots are their
        # meters' summed at flush (one addition per meter-slot, not per record)
        self._m = {}
        self._an = []

    # -- booking -------------------------------------------------------------------------
    def _slot(self, m, slot):
        a = self._m.get((m.mid, slot))
        if a is None:  # the slot's bucket label is the one in force at its start
            a = self._m[(m.mid, slot)] = [0, 0, 0, 0, self.pricing.bucket(m, slot * SLOT),
                                          m.grp]
        return a

    def _book(self, m, slot, wh, t):
        """Add wh, priced at the rate in force at utc t, to a slot."""
        a = self._slot(m, slot)
        a[0] += wh
        a[1] += self.pricing.cost_um(m, t, wh)

    def add(self, cur, m, new, tail):
        """Book newly stored records `new` (sorted by seq, already in raw). `tail` is the
        meter's highest record before this batch (None if it had none)."""
        byseq = {r[0]: r for r in new}
        fresh = set(byseq)
        if tail:
            byseq.setdefault(tail[0], tail)
        top = tail[0] if tail else -1

        def lookup(s):  # a stored record: in this batch, the tail, or (below the tail) the DB
            r = byseq.get(s)
            return r if r is not None or s > top else _get(cur, m, s)

        for r in new:
            seq = r[0]
            a = self._slot(m, (r[1] - 1) // SLOT)   # a marker is a reading too, bar its wh
            a[2] += 1
            if r[3] > a[3]:
                a[3] = r[3]
            if r[9] & F_GAP:
                if seq + 1 not in fresh:  # the record after the gap arrived before its marker
                    nxt = lookup(seq + 1)
                    if nxt is not None and not nxt[9] & F_GAP:
                        p = _before_gap(cur, m, r)
                        if p is not None:
                            self._pair(m, p, nxt)
                continue
            p = lookup(seq - 1)
            if p is not None and p[9] & F_GAP:
                p = _before_gap(cur, m, p)
            if p is not None:
                self._pair(m, p, r)
            if seq + 1 in fresh or seq >= top:
                continue
            nxt = lookup(seq + 1)     # late record: its successor may already be stored
            if nxt is None:           # ... or it is the last before a declared gap
                g = cur.execute("SELECT max(hi) FROM gaps WHERE mid=? AND lo=?",
                                (m.mid, seq + 1)).fetchone()[0]
                if g is not None and g + 2 not in fresh:
                    nxt = lookup(g + 2)
                    marker = lookup(g + 1)
                    if nxt is None or marker is None or _before_gap(cur, m, marker)[0] != seq:
                        nxt = None
            if nxt is not None and not nxt[9] & F_GAP:
                self._pair(m, r, nxt)

    def _pair(self, m, p, c):
        dwh = c[2] - p[2]
        dt = c[1] - p[1]
        synced = dt > 0 and not (p[9] | c[9]) & F_UNSYNCED
        span = dt if synced else (c[0] - p[0]) * m.interval_s
        if dwh < 0 or dwh * 3600 > m.max_power_w * span + 3600:  # +1 Wh register resolution
            self._an.append((m.mid, c[0], c[1], "backwards" if dwh < 0 else "jump", dwh, dt,
                             int(time.time())))
            return
        if not dwh:
            return
        last = (c[1] - 1) // SLOT
        first = p[1] // SLOT
        if not synced or first == last or dt > MAX_SPREAD_S:
            self._book(m, last, dwh, c[1] - 1)
            return
        done = 0  # exact split: cumulative share rounded down, the last slot takes the rest
        for s in range(first, last + 1):
            end = min((s + 1) * SLOT, c[1])
            share = dwh * (end - p[1]) // dt if s < last else dwh
            if share > done:
                self._book(m, s, share - done, end - 1)
            done = share

    # -- write -----------------------------------------------------------------------------
    def flush(self, cur):
        insert = self.store.database.insert_many   # one statement each on PostgreSQL
        if self._m:   # keys unique (dicts): an upsert touches each row once
            groups = {}   # (grp, slot) -> [wh, cost_um, n]: the sum of its meters' slots
            for (mid, slot), a in self._m.items():
                for g in (FLEET, a[5]) if a[5] else (FLEET,):
                    b = groups.get((g, slot))
                    if b is None:
                        groups[(g, slot)] = a[:3]
                    else:
                        b[0] += a[0]
                        b[1] += a[1]
                        b[2] += a[2]
            insert(
                cur,
                "INSERT INTO agg30(mid, slot, wh, cost_um, n, max_dw, bucket) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT(mid, slot) DO UPDATE SET wh = agg30.wh + excluded.wh,"
                " cost_um = agg30.cost_um + excluded.cost_um, n = agg30.n + excluded.n,"
                " max_dw = max(agg30.max_dw, excluded.max_dw)",
                [k + tuple(v[:5]) for k, v in sorted(self._m.items())])   # one lock order
            insert(
                cur,
                "INSERT INTO grp30(grp, slot, wh, cost_um, n) VALUES (?,?,?,?,?)"
                " ON CONFLICT(grp, slot) DO UPDATE SET wh = grp30.wh + excluded.wh,"
                " cost_um = grp30.cost_um + excluded.cost_um, n = grp30.n + excluded.n",
                [k + tuple(v) for k, v in sorted(groups.items())])
        if self._an:
            cur.executemany("INSERT OR IGNORE INTO anomalies VALUES (?,?,?,?,?,?,?)", self._an)
            self.anomalies += len(self._an)
        self.begin()


_COLS = "seq, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c, credit, flags"


def _get(cur, m, seq):
    return cur.execute("SELECT %s FROM raw WHERE mid=? AND seq=?" % _COLS, (m.mid, seq)).fetchone()


def _before_gap(cur, m, g):
    """The highest stored real record in [lo-1, seq-1] of gap marker g."""
    return cur.execute("SELECT %s FROM raw WHERE mid=? AND seq BETWEEN ? AND ? AND flags & ? = 0"
                       " ORDER BY seq DESC LIMIT 1" % _COLS,
                       (m.mid, g[2] - 1, g[0] - 1, F_GAP)).fetchone()
