# The offline flash journal: one 36-byte prepay.record per interval, appended to rotating
# segment files <root>/journal/sNN (a 16-byte header with the segment's first seq, then
# records; the record at index k has seq base + k). Records stay until the gateway acks them.
#
# - Torn writes: at boot an incomplete or CRC-failing tail of the newest segment is cut off
#   (the seq is reused: a torn record was never sent). Any other bad record is skipped when
#   read, counted, and declared to the gateway by a gap marker; nothing crashes startup.
# - Full: when the next segment still holds unacked records it is dropped (oldest unacked
#   data), counted, and the `journal_gap` event emitted; metering goes on.
# - Gap markers (docs/protocol.md): the first record still held after a run of missing seqs
#   above the ack pointer is sent with F_GAP and wh = the run's first seq.
# - The ack pointer and boot counter live in A/B slots, written at most every 1/4 segment of
#   acked records or 10 intervals (bounded flash writes: <= records/10 + acked/(segment/4)).
import os
import struct
from binascii import crc32

from micropython import const

from prepay import record
from prepay.record import F_UNSYNCED, F_STALE, F_GAP, F_ANOMALY, F_BOOT
from lazy import forget
from state_file import StateFile
from measure.reading import OK

_HDR = const(16)               # b"PMJ1" | base u32 | reserved u32 | crc32 u32
_SZ = const(36)
_MAGIC = b"PMJ1"
_ACK_SAVE_N = const(10)        # ... or after this many intervals, whichever comes first
_COPY = const(16)              # records per chunk when repairing a segment


class Journal:
    def __init__(self, cfg, board, events):
        c = cfg
        b = self.b = board
        self.events = events
        self.interval_s = c["journal.interval_s"]
        self.nseg = c["journal.segments"]
        self.per = c["journal.segment_records"]
        self.dir = b.root + "/journal"
        try:
            os.mkdir(self.dir)
        except OSError:
            pass
        self._buf = bytearray(_SZ)
        self._hdr = bytearray(_HDR)
        # counters: every failure path is visible (tele, web page)
        self.writes = 0      # records appended
        self.corrupt = 0     # bad records skipped when read (each counted once per boot)
        self.torn = 0        # torn tail records cut at boot
        self.bad_hdr = 0     # segment headers that failed their CRC
        self.gaps = 0        # segments dropped because the journal was full
        self.dropped = 0     # unacked records lost in those drops
        self.errors = 0      # failed flash writes
        self.bad_acks = 0    # acks above the newest seq (ignored)
        self._bad_hi = 0     # highest bad seq counted (count each once)
        self._slots = StateFile(self.dir + "/state")
        st = self._slots.load() or {}
        self.ack_seq = st.get("ack", 0)
        self.boots = st.get("boots", 0) + 1
        self._base = [-1] * self.nseg
        self._cnt = [0] * self.nseg
        self.head = 0
        self.seq = 1           # next seq to write
        self._scan(st.get("seq", 1))
        self.closed = 0        # interval records closed since boot
        self._saved_ack = self.ack_seq
        self._saved_at = 0
        self._save_state()     # one write per boot: the boot counter
        self._anom_now = 0     # the energy stage's anomaly count, as last given to append
        self._reset_acc()
        self._start = self._end = 0
        self._synced_at_align = True
        self._first = True     # next record gets F_BOOT

    # ---- boot scan -------------------------------------------------------------------
    def _path(self, i):
        return "%s/s%02d" % (self.dir, i)

    def _scan(self, seq_floor):
        """Find each segment's base and count; the newest is the head; cut its bad tail."""
        from journal import scan    # boot-only: dropped after, it saves 0.6 KB of the
        got = scan.segments(self._path, self.nseg, self._hdr, self._buf)  # loose 32-bit heap
        scan = None
        forget("journal.scan")
        self._base, self._cnt, self.torn, self.bad_hdr = got
        best = -1
        for i in range(self.nseg):
            if self._base[i] > best:
                best, self.head = self._base[i], i
        if best < 0:
            self._new_segment(0, seq_floor)
            return
        self._repair_tail(self.head)
        end = self._base[self.head] + self._cnt[self.head]
        self.seq = max(end, seq_floor)
        if self.seq > end:
            self._advance()   # saved seq ahead of the files (journal wiped): never reuse

    def _repair_tail(self, i):
        """Cut an incomplete or bad tail off segment i (copy the good prefix, rename)."""
        p = self._path(i)
        n = self._cnt[i]
        size = os.stat(p)[6]
        buf = self._buf
        with open(p, "rb") as f:
            while n > 0:
                f.seek(_HDR + (n - 1) * _SZ)
                if (f.readinto(buf) == _SZ and record.valid(buf)
                        and struct.unpack_from("<I", buf, 0)[0] == self._base[i] + n - 1):
                    break
                n -= 1
                self.torn += 1
        if size == _HDR + n * _SZ:
            return
        tmp = p + ".tmp"
        chunk = bytearray(_SZ * _COPY)
        mv = memoryview(chunk)
        with open(p, "rb") as src, open(tmp, "wb") as dst:
            left = _HDR + n * _SZ
            while left > 0:
                k = src.readinto(mv[:min(left, len(chunk))])
                if not k:
                    break
                dst.write(mv[:k])
                left -= k
        os.rename(tmp, p)
        self._cnt[i] = n

    # ---- writing ---------------------------------------------------------------------
    def _new_segment(self, i, base):
        h = self._hdr
        h[:4] = _MAGIC
        struct.pack_into("<II", h, 4, base, 0)
        struct.pack_into("<I", h, 12, crc32(memoryview(h)[:12]) & 0xFFFFFFFF)
        with open(self._path(i), "wb") as f:
            f.write(h)
        self._base[i], self._cnt[i], self.head, self.seq = base, 0, i, base

    def _advance(self):
        """Move to the next segment; if it still holds unacked records, drop them (full)."""
        nxt = (self.head + 1) % self.nseg
        last = self._base[nxt] + self._cnt[nxt] - 1
        if self._base[nxt] >= 0 and last > self.ack_seq:
            lo = max(self._base[nxt], self.ack_seq + 1)
            self.gaps += 1
            self.dropped += last - lo + 1
            self.events.emit("journal_gap", lo=lo, hi=last, reason="full")
        self._new_segment(nxt, self.seq)

    def _write(self, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c, credit, flags):
        """Append one record (seq assigned here); returns its seq, or 0 if flash failed."""
        try:
            if self._cnt[self.head] >= self.per:
                self._advance()
            record.pack_into(self._buf, 0, self.seq, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c,
                             credit, flags & 0xFFFF & ~F_GAP)
            with open(self._path(self.head), "ab") as f:
                f.write(self._buf)
        except OSError:
            self.errors += 1
            try:
                self._repair_tail(self.head)  # never leave a misaligned tail behind
            except OSError:
                pass
            return 0
        self._cnt[self.head] += 1
        self.writes += 1
        self.seq += 1
        return self.seq - 1

    # ---- reading (sync) --------------------------------------------------------------
    def last(self):
        """Newest seq written (0 if none yet)."""
        return self.seq - 1

    def first(self):
        """Oldest seq still held."""
        lo = self.seq
        for i in range(self.nseg):
            if self._cnt[i] and 0 <= self._base[i] < lo:
                lo = self._base[i]
        return lo

    def backlog(self):
        return self.seq - 1 - max(self.ack_seq, self.first() - 1)

    def _seg_of(self, pos):
        """(segment, records held from pos in it), or (-1, next held seq above pos)."""
        nxt = self.seq
        for i in range(self.nseg):
            b = self._base[i]
            if b < 0 or not self._cnt[i]:
                continue
            if b <= pos < b + self._cnt[i]:
                return i, b + self._cnt[i] - pos
            if pos < b < nxt:
                nxt = b
        return -1, nxt

    def read(self, start, buf, off, nmax):
        """Copy up to nmax raw records with seq >= start (and > ack) into buf[off:], oldest
        first, skipping bad ones and turning the record after a run of missing seqs into a
        gap marker. Returns (n, next start)."""
        pos = max(start, self.ack_seq + 1)
        lo = 0            # first seq of the current run of missing seqs, 0 = none
        n = 0
        mv = memoryview(buf)
        while n < nmax and pos < self.seq:
            seg, k = self._seg_of(pos)
            if seg < 0:   # not held (dropped or never written)
                lo = lo or pos
                pos = k
                continue
            k = min(k, nmax - n)
            o = off + n * _SZ    # the chunk lands here; good records are compacted down
            try:
                with open(self._path(seg), "rb") as f:
                    f.seek(_HDR + (pos - self._base[seg]) * _SZ)
                    got = f.readinto(mv[o:o + k * _SZ]) // _SZ
            except OSError:
                got = 0
            for j in range(k):
                src = o + j * _SZ
                if j < got and record.valid(buf, src) and struct.unpack_from("<I", buf, src)[0] == pos:
                    dst = off + n * _SZ
                    if dst != src:
                        self._buf[:] = mv[src:src + _SZ]
                        mv[dst:dst + _SZ] = self._buf
                    if lo:
                        _mark_gap(buf, dst, lo)
                        lo = 0
                    n += 1
                else:
                    if pos > self._bad_hi:
                        self._bad_hi = pos
                        self.corrupt += 1
                    lo = lo or pos
                pos += 1
        # a run still open at the end is re-read next time, so its marker is not lost
        return n, (lo if lo else pos)

    def ack(self, seq):
        """The gateway holds every seq <= seq. Frees journal space; persists with bounded
        writes. Returns True if the pointer moved."""
        if seq >= self.seq:
            self.bad_acks += 1
            return False
        if seq <= self.ack_seq:
            return False
        self.ack_seq = seq
        if seq - self._saved_ack >= self.per // 4 or self.closed - self._saved_at >= _ACK_SAVE_N:
            self._save_state()
        return True

    def flush(self):
        """Persist the ack pointer now if it moved (clean shutdown, periodic check)."""
        if self.ack_seq != self._saved_ack:
            self._save_state()

    def _save_state(self):
        try:
            self._slots.save({"ack": self.ack_seq, "seq": self.seq, "boots": self.boots})
        except OSError:
            self.errors += 1
            return
        self._saved_ack = self.ack_seq
        self._saved_at = self.closed

    @property
    def state_writes(self):
        return self._slots.writes

    def stats(self):
        return {"seq": self.seq - 1, "ack": self.ack_seq, "backlog": self.backlog(),
                "first": self.first(), "writes": self.writes, "state_writes": self._slots.writes,
                "corrupt": self.corrupt, "torn": self.torn,
                "bad_hdr": self.bad_hdr, "gaps": self.gaps, "dropped": self.dropped,
                "errors": self.errors, "bad_acks": self.bad_acks, "boots": self.boots}

    # ---- intervals (called by the meter core every metering window) ------------------
    def _reset_acc(self):
        self._t = 0              # ms of good readings
        self._pv = self._pi = self._phz = self._pp = self._ps = self._pq = 0.0
        self._flags = 0
        self._anom = self._anom_now

    def append(self, utc, r, dt_ms, wh, decision, anomalies):
        """One metering window: reading `r` over dt_ms, the energy register `wh` after it, the
        credit stage's `decision` and the energy stage's anomaly count. Accumulates the
        interval's averages; closes and writes its record when it is due."""
        b = self.b
        self._anom_now = anomalies
        if not self._end:
            self._align(utc)
        if r.status == OK and dt_ms > 0:
            self._t += dt_ms
            self._pv += r.v * dt_ms
            self._pi += r.i * dt_ms
            self._phz += r.hz * dt_ms
            self._pp += r.p * dt_ms
            s = abs(r.s) * dt_ms
            self._ps += s
            self._pq += s if r.pf >= 0 else -s   # lagging vs leading share of apparent energy
        elif r.status != OK:
            self._flags |= F_STALE
        synced = b.rtc_valid()
        if not synced:
            self._flags |= F_UNSYNCED
        if utc >= self._end or utc < self._start:   # due, or the clock jumped
            if not self._synced_at_align:
                # its end time came from the clock before a time sync: the first window
                # after the sync may close it, and that record's time is still unsynced
                self._flags |= F_UNSYNCED
            self._close(wh, decision)
            self._align(utc)

    def _align(self, utc):
        self._synced_at_align = self.b.rtc_valid()
        i = self.interval_s
        self._start = utc - utc % i
        self._end = self._start + i

    def _close(self, wh, decision):
        f = self._flags | decision.flags        # F_RELAY_OPEN among them
        if self._first:
            f |= F_BOOT
            self._first = False
        if self._anom_now != self._anom:
            f |= F_ANOMALY
        t = self._t
        if t:
            avg_dw, v_dv = int(self._pp * 10 / t + 0.5), int(self._pv * 10 / t + 0.5)
            i_ma, hz_c = int(self._pi * 1000 / t + 0.5), int(self._phz * 100 / t + 0.5)
            pf_m = int(self._pp * 1000 / self._ps + 0.5) if self._ps > 0 else 0
            if self._pq < 0:
                pf_m = -pf_m
        else:
            avg_dw = v_dv = i_ma = hz_c = pf_m = 0
        self.closed += 1
        self._write(self._end, wh, max(0, avg_dw), min(v_dv, 0xFFFF), max(0, i_ma),
                    max(-1000, min(1000, pf_m)), min(hz_c, 0xFFFF), decision.net, f)
        self._reset_acc()


def _mark_gap(buf, off, lo):
    """Turn the record at off into a gap marker declaring seqs lo .. seq-1 dropped."""
    struct.pack_into("<I", buf, off + 8, lo)
    flags = struct.unpack_from("<H", buf, off + 30)[0] | F_GAP
    struct.pack_into("<H", buf, off + 30, flags)
    struct.pack_into("<I", buf, off + record.BODY,
                     crc32(memoryview(buf)[off:off + record.BODY]) & 0xFFFFFFFF)
