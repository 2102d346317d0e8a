# Journal checks run under the unix-port MicroPython: journal_check.py <case> (METER_ROOT set).
# Real Board (unix_sim), Config, Energy, Events, Reading and EnergyHistory; the credit
# stage's decision is a stand-in (net, flags: the relay as the board has it) so the journal
# can be driven window by window, as the metering task drives it.
import gc
import json
import os
import sys

from prepay.settings import validate
from board import Board
from events import Events
from measure.energy import Energy
from measure.reading import Reading, OK, STALE
from prepay import record
from prepay.record import F_GAP, F_RELAY_OPEN
from journal.journal import Journal
from energy_history import EnergyHistory
from prepay.history import History

T0 = 1767225600  # 2026-01-01 00:00 UTC


class DecisionStandIn:
    def __init__(self, board):
        self.board = board
        self.net = 1000
        self.bits = 0

    @property
    def flags(self):
        return self.bits | (0 if self.board.relay_closed() else F_RELAY_OPEN)


class M:
    def __init__(self, **sections):
        doc = {"meter": {"id": "t1"}}
        doc.update(sections)
        self.board = Board()
        self.cfg, errs = validate(doc)
        assert not errs, errs
        self.events = Events(self.board)
        self.energy = Energy()
        self.decision = DecisionStandIn(self.board)
        self.seen = []
        self.events.add_sink(self.seen.append)

    def journal(self):
        return Journal(self.cfg, self.board, self.events)

    def history(self):
        # its hours are the credit stage's week (tests/device/test_days.py): none here
        return EnergyHistory(self.board.root, self.cfg["meter.utc_offset_min"], History())

    def window(self, j, t, r, dt_ms, h=None):
        """One metering window's journal (and history) stage, as the metering task runs it."""
        j.append(t, r, dt_ms, self.energy.wh, self.decision, self.energy.anomalies)
        if h:
            h.add(t, self.energy.wh, self.board.rtc_valid())


def reading(v=230.0, i=5.0, p=1000.0, pf=0.87, hz=50.0, status=OK):
    r = Reading()
    r.v, r.i, r.p, r.pf, r.hz, r.status = v, i, p, pf, hz, status
    r.s = v * i
    return r


def run_minutes(j, m, r, t, n, wh_per_min=0, ack=False, h=None):
    """n intervals of one 60 s window each (window utc = interval end)."""
    for k in range(n):
        t += 60
        m.energy.wh += wh_per_min
        m.window(j, t, r, 60000, h)
        if ack:
            j.ack(j.last())
    return t


def read_all(j, start=1, batch=50):
    buf = bytearray(batch * record.SIZE)
    out = []
    pos = start
    while True:
        n, nxt = j.read(pos, buf, 0, batch)
        for k in range(n):
            out.append(record.unpack(buf, k * record.SIZE))
        if n == 0 or nxt == pos:
            break
        pos = nxt
    return out


def dir_bytes(path):
    total = 0
    for name in os.listdir(path):
        total += os.stat(path + "/" + name)[6]
    return total


def emit(**kw):
    print(json.dumps(kw))


def case_capacity():
    """7 days of 1-minute records (10080, plus one window to open the first interval)."""
    m = M()
    j = m.journal()
    run_minutes(j, m, reading(), T0, 7 * 1440 + 1, wh_per_min=17)
    buf = bytearray(50 * record.SIZE)
    pos, n, expect, markers, bad, last = 1, 0, 1, 0, 0, None
    while True:
        got, nxt = j.read(pos, buf, 0, 50)
        for k in range(got):
            r = record.unpack(buf, k * record.SIZE)
            if r is None or r[0] != expect or r[2] != 17 * (expect + 1):
                bad += 1
            markers += 1 if r and r[9] & F_GAP else 0
            expect += 1
            last = r
        n += got
        if not got:
            break
        pos = nxt
    emit(case="capacity", records=n, last_seq=last[0], bad=bad, gaps=j.gaps, dropped=j.dropped,
         bytes=dir_bytes(m.board.root + "/journal"), t_last=last[1], markers=markers,
         capacity=j.nseg * j.per, mem_free=gc.mem_free())


def case_averages():
    m = M(journal={"interval_s": 60})
    j = m.journal()
    r = reading(v=230.0, i=5.0, p=1000.0, pf=0.87, hz=50.0)
    # 6 windows of 10 s in the first interval; one stale window in the second
    t = T0
    for k in range(6):
        t += 10
        m.window(j, t, r, 10000)
    lead = reading(v=240.0, i=2.0, p=400.0, pf=-0.8, hz=49.9)
    for k in range(5):
        t += 10
        m.window(j, t, lead, 10000)
    t += 10
    m.window(j, t, reading(status=STALE), 10000)
    m.board.relay(False)
    recs = read_all(j)
    emit(case="averages", recs=[list(r) for r in recs])


def case_full():
    m = M(journal={"segments": 4, "segment_records": 10})
    j = m.journal()
    t = run_minutes(j, m, reading(), T0, 45, wh_per_min=5)
    recs = read_all(j)
    emit(case="full", last=j.last(), gaps=j.gaps, dropped=j.dropped, first=j.first(),
         backlog=j.backlog(), recs=[[r[0], r[2], r[9]] for r in recs],
         events=[e for e in m.seen if e["kind"] == "journal_gap"])
    # the gateway acks the marker and beyond: space is freed, no more drops
    j.ack(recs[-1][0])
    run_minutes(j, m, reading(), t, 30, wh_per_min=5, ack=True)
    emit(case="full_after_ack", gaps=j.gaps, dropped=j.dropped, backlog=j.backlog(), last=j.last())


def case_torn_write():
    root = os.getenv("METER_ROOT")
    stage = sys.argv[2]
    if stage == "write":
        m = M()
        j = m.journal()
        run_minutes(j, m, reading(), T0, 25, wh_per_min=3)
        emit(case="torn_write", last=j.last())
    elif stage == "tear":  # half a record appended: power lost mid-write
        with open(root + "/journal/s00", "ab") as f:
            f.write(b"\x1a" * 17)
    elif stage == "garbage":  # a whole record of garbage at the tail
        with open(root + "/journal/s00", "ab") as f:
            f.write(b"\xff" * 36)
    elif stage == "check":
        m = M()
        j = m.journal()
        seq0 = j.seq
        run_minutes(j, m, reading(), T0 + 3600, 5, wh_per_min=3)
        recs = read_all(j)
        emit(case="torn_check", torn=j.torn, next_seq=seq0, last=j.last(), n=len(recs),
             contiguous=[r[0] for r in recs] == list(range(1, j.last() + 1)),
             markers=sum(1 for r in recs if r[9] & F_GAP), corrupt=j.corrupt,
             size=os.stat(root + "/journal/s00")[6], boots=j.boots)


def case_corrupt():
    root = os.getenv("METER_ROOT")
    m = M(journal={"segment_records": 20})
    j = m.journal()
    run_minutes(j, m, reading(), T0, 50, wh_per_min=2)
    # flip a byte in seq 5 (segment 0), wipe seqs 30..32 (segment 1), break segment 2's header
    with open(root + "/journal/s00", "r+b") as f:
        f.seek(16 + 4 * 36 + 9)
        f.write(b"\x55")
    with open(root + "/journal/s01", "r+b") as f:
        f.seek(16 + 9 * 36)
        f.write(b"\0" * 36 * 3)
    with open(root + "/journal/s02", "r+b") as f:
        f.seek(5)
        f.write(b"\xee")
    m2 = M(journal={"segment_records": 20})
    j2 = m2.journal()
    recs = read_all(j2, batch=7)
    again = read_all(j2, batch=50)  # reading twice counts each bad record once
    emit(case="corrupt", last=j2.last(), bad_hdr=j2.bad_hdr, corrupt=j2.corrupt,
         recs=[[r[0], r[2], r[9]] for r in recs], again=len(again))


def case_garbage_boot():
    """Random junk in every journal file and the state slots: startup must not crash."""
    root = os.getenv("METER_ROOT")
    os.mkdir(root + "/journal")
    junk = bytes((k * 37 + 11) & 0xFF for k in range(700))
    for name in ("s00", "s01", "s03", "state.a", "state.b", "rollup.a", "rollup.b"):
        with open(root + "/journal/" + name, "wb") as f:
            f.write(junk[:len(name) * 97 % 700])
    with open(root + "/journal/s02", "wb") as f:
        f.write(b"PMJ1")  # torn header
    m = M()
    j = m.journal()
    h = m.history()     # its slots (rollup.a|b) are in the journal's directory
    run_minutes(j, m, reading(), T0, 3, wh_per_min=1, h=h)
    recs = read_all(j)
    emit(case="garbage_boot", last=j.last(), n=len(recs), first=recs[0][0] if recs else None,
         bad_hdr=j.bad_hdr, stats=j.stats())


def case_ack_budget():
    m = M()
    j = m.journal()
    h = m.history()
    w0 = j.state_writes
    run_minutes(j, m, reading(), T0, 7 * 1440, wh_per_min=10, ack=True, h=h)
    emit(case="ack_budget", records=j.last(), ack=j.ack_seq, state_writes=j.state_writes - w0,
         rollup_writes=h.writes, backlog=j.backlog(), gaps=j.gaps)
    # a batch catch-up: acks of 50 records at a time
    m2 = M()
    m2.board.root = m.board.root + "/b"
    os.mkdir(m2.board.root)
    j2 = m2.journal()
    run_minutes(j2, m2, reading(), T0, 7 * 1440, wh_per_min=10)
    w0 = j2.state_writes
    for s in range(50, j2.last() + 1, 50):
        j2.ack(s)
    j2.ack(j2.last())
    j2.ack(j2.last() + 5)   # beyond the newest: ignored, counted
    emit(case="ack_batch", records=j2.last(), state_writes=j2.state_writes - w0,
         bad_acks=j2.bad_acks, ack=j2.ack_seq)


def case_ack_persist():
    stage = sys.argv[2]
    m = M(journal={"segment_records": 40})
    j = m.journal()
    if stage == "write":
        run_minutes(j, m, reading(), T0, 100, wh_per_min=1)
        j.ack(60)
        j.flush()
        emit(case="ack_write", ack=j.ack_seq)
    else:
        emit(case="ack_read", ack=j.ack_seq, backlog=j.backlog(), last=j.last(), boots=j.boots,
             first_read=read_all(j)[0][0])


def case_rollup():
    stage = sys.argv[2]
    m = M(meter={"id": "t1", "utc_offset_min": 330})
    if stage == "run":
        j = m.journal()
        h = m.history()
        # 50 hours at 1 kWh/h from local midnight 2026-01-01 (IST = UTC+5:30): 60 Wh/min
        t = run_minutes(j, m, reading(), T0 - 330 * 60, 50 * 60, wh_per_min=60, h=h)
        emit(case="rollup", daily=h.daily(3), today=h.today_wh(),
             month=h.month_wh(), writes=h.writes)
    else:
        m.energy.wh = 50 * 60 * 60 + 7   # 7 Wh used after the last save, before the restart
        j = m.journal()
        h = m.history()
        t = T0 - 330 * 60 + 50 * 3600 + 60
        m.window(j, t, reading(), 60000, h)
        emit(case="rollup_restored", daily=h.daily(3), today=h.today_wh(),
             month=h.month_wh())


def case_fill():
    """journal_check.py fill <minutes> <t0>: prefill a meter's journal (real Journal code)
    with 1-minute records from t0, as a meter offline for that long would have."""
    n, t0 = int(sys.argv[2]), int(sys.argv[3])
    m = M()
    j = m.journal()
    run_minutes(j, m, reading(), t0 - 60, n + 1, wh_per_min=17)
    emit(case="fill", last=j.last(), ack=j.ack_seq, gaps=j.gaps)


CASES = {"fill": case_fill, "capacity": case_capacity, "averages": case_averages, "full": case_full,
         "torn": case_torn_write, "corrupt": case_corrupt, "garbage_boot": case_garbage_boot,
         "ack_budget": case_ack_budget, "ack_persist": case_ack_persist, "rollup": case_rollup}

CASES[sys.argv[1]]()
