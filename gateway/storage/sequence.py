"""Sequence bookkeeping per meter: which records are new, the high-contiguous mark, holes.

Records are unique by (meter, seq). Every seq at or below a meter's high-contiguous mark
(`MeterState.hc`) is known; one above its newest stored record (`tail`) is new; only the
late backlog in between is looked up in `raw`. So the live, in-order path does no lookups.
A gap marker's range lo..seq-1 (the `gaps` table) counts as stored.
"""
from prepay.record import FIELDS


def tail(cur, m):
    """The meter's record with the highest seq (loaded once, then kept by the writer)."""
    if m.tail is False:
        m.tail = cur.execute("SELECT %s FROM raw WHERE mid=? ORDER BY seq DESC LIMIT 1"
                             % ", ".join(FIELDS), (m.mid,)).fetchone()
    return m.tail


def fresh(cur, m, top, records):
    """{seq: record} of those not stored yet. At or below the high-contiguous mark all are
    known; above the tail `top` all are new; in between (late backlog) the table says."""
    tseq = top[0] if top else m.hc
    out, late = {}, []
    for r in records:
        seq = r[0]
        if seq <= m.hc or seq in out:
            continue
        if seq <= tseq:
            late.append(seq)
        out[seq] = tuple(r)
    q = "SELECT seq FROM raw WHERE mid=? AND seq IN (%s)"
    for i in range(0, len(late), 500):
        chunk = late[i:i + 500]
        for (s,) in cur.execute(q % ",".join("?" * len(chunk)), [m.mid] + chunk):
            del out[s]
    return out


def advance(cur, m, new):
    """Move the high-contiguous mark over present seqs (`new`: those just stored) and
    declared gaps; the table is asked only while stored seqs lie above the mark, not on the
    in-order live path."""
    hc = m.hc
    top = m.tail[0] if m.tail else hc
    while hc < top:
        if hc + 1 in new:
            hc += 1
            continue
        g = cur.execute("SELECT max(hi) FROM gaps WHERE mid=? AND lo<=? AND hi>?",
                        (m.mid, hc + 1, hc)).fetchone()[0]
        if g is not None:
            hc = g
            continue
        rows = cur.execute("SELECT seq FROM raw WHERE mid=? AND seq>? ORDER BY seq LIMIT 512",
                           (m.mid, hc)).fetchall()
        moved = False
        for (s,) in rows:
            if s != hc + 1:
                break
            hc = s
            moved = True
        if not moved:
            break
    m.hc = hc


def pending(states):
    """Seqs above the high-contiguous marks up to each meter's tail (holes and what follows
    them), over the meters the writer has touched since start."""
    return sum(m.tail[0] - m.hc for m in list(states) if m.tail and m.tail[0] > m.hc)


def missing(db, m, limit=10):
    """Up to `limit` (lo, hi) ranges of seqs above the mark not stored and not declared
    dropped, oldest first (what the gateway asks the meter to replay)."""
    out = []
    rows = db.execute(
        "SELECT prev + 1, seq - 1 FROM (SELECT seq, lag(seq, 1, ?) OVER (ORDER BY seq) prev"
        " FROM raw WHERE mid=? AND seq>?) s WHERE seq > prev + 1", (m.hc, m.mid, m.hc))
    gaps = db.execute("SELECT lo, hi FROM gaps WHERE mid=? AND hi>? ORDER BY lo",
                      (m.mid, m.hc)).fetchall()
    for lo, hi in rows:
        for glo, ghi in gaps:  # subtract declared journal-full gaps
            if glo <= lo <= ghi:
                lo = ghi + 1
            elif lo < glo <= hi:
                if ghi >= hi:
                    hi = glo - 1
                else:
                    out.append((lo, glo - 1))
                    lo = ghi + 1
        if lo <= hi:
            out.append((lo, hi))
        if len(out) >= limit:
            break
    return out[:limit]
