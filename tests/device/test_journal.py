"""The flash journal under the real unix-port MicroPython (-X heapsize=128k): capacity,
interval averages and flags, torn and corrupt records, journal-full gap markers, ack
pointer persistence and its flash-write budget, and the consumer-page rollup."""
import upy

from prepay.record import F_GAP, F_BOOT, F_UNSYNCED, F_STALE, F_RELAY_OPEN

T0 = 1767225600


def run(case, root, *args, **env):
    return upy.run_json("journal_check.py", case, *args, METER_ROOT=root, **env)


def test_seven_days_of_minute_records_fit_in_512k(tmp_path):
    (r,) = run("capacity", tmp_path)
    print(f"\n7 days: {r['records']} records in {r['bytes']} bytes of journal "
          f"(capacity {r['capacity']} records)")
    assert r["records"] == 7 * 1440 and r["last_seq"] == 7 * 1440 and r["bad"] == 0
    assert r["gaps"] == r["dropped"] == r["markers"] == 0
    assert r["bytes"] <= 512 * 1024
    assert r["t_last"] == T0 + (7 * 1440 + 1) * 60   # aligned interval ends


def test_interval_averages_and_flags(tmp_path):
    (r,) = run("averages", tmp_path)
    (a, b) = r["recs"]
    seq, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c, credit, flags = a
    assert (seq, t, avg_dw, v_dv, i_ma, pf_m, hz_c, credit) == (1, T0 + 60, 10000, 2300, 5000,
                                                                 870, 5000, 1000)
    assert flags == F_BOOT | F_UNSYNCED | F_RELAY_OPEN  # no METER_EPOCH: clock not synced
    seq, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c, credit, flags = b
    # 5 good leading windows, 1 stale: averages over the good ones, PF = P/S, negative = lead
    assert (seq, t, avg_dw, v_dv, i_ma, pf_m, hz_c) == (2, T0 + 120, 4000, 2400, 2000, -833, 4990)
    assert flags == F_UNSYNCED | F_STALE | F_RELAY_OPEN


def test_synced_clock_clears_unsynced_flag(tmp_path):
    (r,) = run("averages", tmp_path, METER_EPOCH=T0)
    assert not r["recs"][0][9] & F_UNSYNCED and not r["recs"][1][9] & F_UNSYNCED


def test_full_journal_drops_oldest_with_counted_gap_marker(tmp_path):
    full, after = run("full", tmp_path)
    # 4 segments x 10 records: record 41 reused segment 0, dropping seqs 1..10
    assert full["gaps"] == 1 and full["dropped"] == 10 and full["last"] == 44
    assert full["events"] and full["events"][0]["lo"] == 1 and full["events"][0]["hi"] == 10
    recs = full["recs"]
    assert [s for s, _, _ in recs] == list(range(11, 45))
    seq, wh, flags = recs[0]
    assert flags & F_GAP and wh == 1          # marker at 11 declares 1..10 dropped
    assert not any(f & F_GAP for _, _, f in recs[1:])
    assert [wh for _, wh, _ in recs[1:]] == [5 * (s + 1) for s in range(12, 45)]
    # once acked, space is reused without further drops; metering never stopped
    assert after["gaps"] == 1 and after["dropped"] == 10 and after["last"] == 74
    assert after["backlog"] == 0


def test_torn_tail_is_cut_at_boot_and_seq_reused(tmp_path):
    (w,) = run("torn", tmp_path, "write")
    assert w["last"] == 24
    run("torn", tmp_path, "tear")
    (c,) = run("torn", tmp_path, "check")
    assert c["torn"] == 1 and c["next_seq"] == 25 and c["last"] == 28
    assert c["contiguous"] and c["markers"] == 0 and c["corrupt"] == 0
    assert c["size"] == 16 + 28 * 36
    run("torn", tmp_path, "garbage")      # a whole garbage record at the tail
    (c,) = run("torn", tmp_path, "check")
    assert c["torn"] == 1 and c["next_seq"] == 29 and c["contiguous"] and c["boots"] == 3


def test_corrupt_records_skipped_counted_and_declared(tmp_path):
    (r,) = run("corrupt", tmp_path)
    assert r["last"] == 49 and r["bad_hdr"] == 1 and r["corrupt"] == 4 and r["again"] == 45
    recs = {s: (wh, f) for s, wh, f in r["recs"]}
    assert sorted(recs) == [s for s in range(1, 50) if s not in (5, 30, 31, 32)]
    assert recs[6] == (5, recs[6][1]) and recs[6][1] & F_GAP       # declares 5..5
    assert recs[33][0] == 30 and recs[33][1] & F_GAP               # declares 30..32
    assert sum(1 for wh, f in recs.values() if f & F_GAP) == 2
    assert recs[34][0] == 2 * 35  # the records after a marker carry the register on


def test_garbage_files_never_crash_startup(tmp_path):
    (r,) = run("garbage_boot", tmp_path)
    assert r["bad_hdr"] >= 3 and r["n"] == r["last"] == 2 and r["first"] == 1


def test_ack_pointer_write_budget(tmp_path):
    daily, batch = run("ack_budget", tmp_path)
    print(f"\nack pointer flash writes: {daily['state_writes']} for {daily['records']} records "
          f"acked one by one; {batch['state_writes']} for a 7-day backlog acked 50 at a time; "
          f"rollup writes {daily['rollup_writes']}")
    # at most one write per 10 intervals or per quarter segment of acked records
    assert daily["state_writes"] <= daily["records"] // 10 + 1
    assert batch["state_writes"] <= batch["records"] // 175 + 1
    assert daily["backlog"] == 0 and daily["gaps"] == 0
    assert batch["bad_acks"] == 1 and batch["ack"] == batch["records"]


def test_ack_pointer_survives_restart(tmp_path):
    (w,) = run("ack_persist", tmp_path, "write")
    (r,) = run("ack_persist", tmp_path, "read")
    assert w["ack"] == r["ack"] == 60 and r["boots"] == 2
    assert r["first_read"] == 61 and r["backlog"] == r["last"] - 60


def test_rollup_days_month_and_restart(tmp_path):
    (r,) = run("rollup", tmp_path, "run", METER_EPOCH=T0)
    # 60 Wh per minute from local midnight (UTC+5:30); the first window only sets the base
    assert r["daily"] == [86340, 86400, 7200] and r["today"] == 7200
    assert r["month"] == 179940
    assert r["writes"] <= 52                 # about once an hour
    (r,) = run("rollup", tmp_path, "restore", METER_EPOCH=T0)
    # the energy used since the last save lands in the day the meter restarts in (the
    # hours are the credit stage's week: tests/device/test_days.py)
    assert r["today"] == 7207 and r["month"] == 179947
