"""OpenPAYGO tokens on the meter (unix-port MicroPython, 128k heap, compiled bundle; the
scenarios that build a whole credit module run at the fleet's 64-bit meter heap, fleet.HEAP:
at 128k they ran within a few hundred bytes of MemoryError, and the page's month total and
top-up source (issue 18) tipped them over):
>= 1,000 tokens from the reference `openpaygo` encoder across keys, values, counters,
modes and variants all decode to the same value and counter; corrupted tokens are
rejected; and token entry through Credit (replay, too old, lockout, reboot) behaves."""
import random

import openpaygo
import pytest

import bundle
import upy
from host_tools.fleet import HEAP

T0 = 1737331200
ADD, SET, DISABLE, SYNC = 1, 2, 3, 4


def _reference_tokens(n, seed):
    rnd = random.Random(seed)
    keys = [bytes(rnd.getrandbits(8) for _ in range(16)).hex() for _ in range(8)]
    rows = []
    for i in range(n):
        key = keys[i * len(keys) // n]            # grouped by key, as a meter sees them
        start = [None, 516959010, rnd.randrange(1, 10**9)][i * len(keys) // n % 3]
        ext = i % 4 == 3
        mode = rnd.choice([ADD, SET] if ext else [ADD, ADD, ADD, SET, DISABLE, SYNC])
        value = (rnd.randrange(0, 10**6 if ext else 996)) if mode in (ADD, SET) else None
        # counters: mostly small, some far along (decode walks the chain from 0)
        last = rnd.randrange(0, 150) if rnd.random() < 0.97 else rnd.randrange(150, 1200)
        restricted = rnd.random() < 0.2
        count, tok = openpaygo.generate_token(
            secret_key=key, count=last, value=value, token_type=mode, starting_code=start,
            restricted_digit_set=restricted, extended_token=ext)
        # the meter's last count: anywhere the standard still accepts this count from
        lo = max(0, count - (100 if mode == SYNC else 64))
        meter_last = rnd.randrange(lo, count)
        rows.append((key, start or 0, int(ext), meter_last, tok, value, mode, count,
                     restricted))
    return rows


def _reference_decode(row):
    """What the reference decoder makes of the token in the meter's state. It differs from
    the generated count only when an earlier count's chain code collides (1e-6 a step)."""
    key, start, ext, last, tok, *_ = row
    v, typ, count, _ = openpaygo.decode_token(
        token=tok, secret_key=key, count=last, used_counts=[last], starting_code=start or None,
        restricted_digit_set=row[8])
    return typ, count, v


def _decode_on_meter(tmp_path, rows):
    f = tmp_path / "tokens.txt"
    f.write_text("".join("%s %d %d %d %s\n" % r[:5] for r in rows))
    out = upy.run_json("token_decode.py", f, MICROPYPATH=bundle.micropypath())
    return out[:-1], out[-1]


def test_reference_tokens_decode_on_the_meter(tmp_path):
    rows = _reference_tokens(1200, 2024)
    got, stats = _decode_on_meter(tmp_path, rows)
    assert len(got) == len(rows) == stats["n"] == 1200
    collisions = 0
    for row, (st, value, mode, count) in zip(rows, got):
        assert st == 0, row
        ref_mode, ref_count, ref_value = _reference_decode(row)
        assert (mode, count) == (ref_mode, ref_count), row     # same as the reference
        if (mode, count) != (row[6], row[7]):
            collisions += 1                                    # both decoders agree on it
            continue
        if row[6] in (ADD, SET):
            assert value == row[5] == ref_value, row
    assert collisions <= 2
    kinds = {(r[2], r[6], len(r[4])) for r in rows}
    assert {(0, ADD, 9), (0, SET, 9), (0, DISABLE, 9), (0, SYNC, 9), (1, ADD, 12),
            (1, SET, 12), (0, ADD, 15), (1, ADD, 20)} <= kinds
    assert max(r[7] for r in rows) > 1000
    print("\nmeter decode (unix port, viper chain step): %d tokens, %d chain steps, %.1f ms/token, "
          "%.1f us/step; %d earlier-count collisions (reference agrees)"
          % (stats["n"], stats["steps"], stats["ms"] / stats["n"],
             stats["ms"] * 1000 / stats["steps"], collisions))


def _corrupt(tok, rnd):
    i = rnd.randrange(len(tok))
    digits = "1234" if len(tok) in (15, 20) else "0123456789"
    new = rnd.choice([d for d in digits if d != tok[i]])
    return tok[:i] + new + tok[i + 1:]


def test_corrupted_tokens_are_rejected(tmp_path):
    rnd = random.Random(99)
    rows = []
    for r in _reference_tokens(400, 7):
        bad = _corrupt(r[4], rnd)
        rows.append(r[:4] + (bad,) + r[5:])
    # plus truncated / extended / non-digit forms
    for r in _reference_tokens(20, 8):
        for bad in (r[4][:-1], r[4] + "0", "x" + r[4][1:]):
            rows.append(r[:4] + (bad,) + r[5:])
    got, _ = _decode_on_meter(tmp_path, rows)
    assert [g[0] for g in got] == [1] * len(rows)    # INVALID: never reaches the money


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    out = upy.run_json("credit_check.py", "cs_tokens", "entry", "lockout", "reboot_replay",
                       "modes", "extended", "restricted", "nokey", METER_ROOT=root,
                       METER_EPOCH=T0, METER_SPEED=2000, MICROPYPATH=bundle.micropypath(),
                       heap=HEAP)
    return {r["name"]: r for r in out}


def test_results_and_consumer_messages(entry):
    r = entry["entry"]
    assert r["ok"] == ["accepted", 500, 0, "Accepted: 5.00 INR added."]
    assert r["used"] == ["used", 0, 0, "This code has already been used."]
    assert r["spaced"][:2] == ["accepted", 700]          # spaces and dashes are fine
    assert r["older_unused"][:2] == ["accepted", 200]    # bought out of order, still valid
    assert r["old"] == ["old", 0, 0, "This code is too old to use. Ask your vendor for a new one."]
    assert r["too_far"][0] == "invalid"                  # beyond the 64-count window
    assert r["credit"] == 1500 and r["count"] == 40
    assert r["ev"] == ["accepted", "used", "accepted", "accepted", "accepted", "old", "invalid"]


def test_lockout_doubles_to_1280s_and_survives_reboot(entry):
    r = entry["lockout"]
    assert [x[:3] for x in r["first"]] == [["invalid", 0, 0], ["invalid", 0, 0],
                                           ["invalid", 0, 10]]
    assert r["first"][2][3].endswith("locked for 10 s.")
    assert r["locks"] == [20, 40, 80, 160, 320, 640, 1280, 1280, 1280]
    assert r["writes"] == 9                              # each bad entry persisted
    # a valid code waits for the lock too (it is not even decoded)
    assert r["while_locked"][0] == "locked" and 0 < r["while_locked"][2] <= 1280
    assert r["while_locked"][3] == "Too many wrong codes: code entry is locked for %d s." % (
        r["while_locked"][2])
    assert r["after_reboot"][0] == "locked" and 0 < r["after_reboot"][2] <= 1280
    assert r["after_wait"][:2] == ["accepted", 500]
    assert r["one_more_bad"][:3] == ["invalid", 0, 0]   # accepted code reset the count


def test_mqtt_token_is_never_locked_out_and_does_not_lock(tmp_path):
    """Issue 11 (c): the page's lockout once refused the utility's own MQTT top-up as
    `locked`. Now only typed codes are locked out; a bad code over MQTT is counted apart.
    (Real-time meter clock: the 10 s lock outlasts the scenario.)"""
    r = upy.run_json("credit_check.py", "cs_tokens", "remote", METER_ROOT=tmp_path,
                     METER_EPOCH=T0, METER_SPEED=1, MICROPYPATH=bundle.micropypath(),
                     heap=HEAP)[0]
    assert r["lock"] == 10
    assert r["typed_good"][0] == "locked"                # typed path: exactly as before
    assert r["remote_good"][:3] == ["accepted", 500, 0]
    assert [x[:3] for x in r["remote_bad"]] == [["invalid", 0, 0]] * 5
    lock, fails, typed_rej, remote_rej, credit = r["after"]
    assert 0 < lock <= 10 and fails == 3 and typed_rej == 3 and remote_rej == 5
    assert credit == 500
    assert r["remote_used"][0] == "used"                 # a re-send cannot credit twice
    assert r["typed_still"] == "locked"
    assert r["tok"] == [2, 0b101]                        # count 2 used (and count 0)
    # the accepted event says the utility sent it (remote): the page's top-up list shows
    # how each top-up arrived (issue 18); before, only rejected remote codes carried it
    assert r["ev"] == [["invalid", False]] * 3 + [["locked", False], ["accepted", True]] + \
        [["invalid", True]] * 5 + [["used", False], ["locked", False]]



def test_token_never_accepted_twice_across_reboot(entry):
    r = entry["reboot_replay"]
    assert r["first"] == "accepted" and r["again"][0] == "used"
    assert r["bal"][1] <= r["bal"][0]


def test_set_disable_and_counter_sync_semantics(entry):
    r = entry["modes"]
    assert r["add"][:2] == ["accepted", 300]
    assert r["set"] == ["accepted", 2000, 0, "Accepted: credit set to 20.00 INR."]
    assert r["after_set"] == 2000
    assert r["disable"][0] == "accepted" and "prepayment is off" in r["disable"][3]
    assert r["postpaid"] == [True, "ok", False, True]    # no cut, usage accrues debt
    assert r["sync"][:2] == ["accepted", 0] and "synchronised" in r["sync"][3]
    assert r["sync_again"][0] == "used"
    assert r["readd"][:2] == ["accepted", 5000] and r["prepaid"] is True
    assert r["old_after_set"][0] == "used"               # SET/SYNC close older ADD codes


def test_extended_and_restricted_variants(entry):
    r = entry["extended"]
    assert r["big"][:2] == ["accepted", 123456] and r["restricted"][:2] == ["accepted", 999999]
    assert r["nine"][0] == "invalid"                     # this meter takes 12-digit codes
    assert r["credit"] == 123456 + 999999
    r = entry["restricted"]
    assert r["len"] == 15 and r["r"][:2] == ["accepted", 1200]
    assert r["bad_digit"][0] == "invalid"


def test_meter_without_key_says_so(entry):
    assert entry["nokey"]["r"] == ["invalid", 0, 0,
                                   "This meter has no token key yet, so it cannot accept codes."]


def test_viper_chain_step_equals_pure_siphash():
    (r,) = upy.run_json("sipstep_check.py", MICROPYPATH=bundle.micropypath())
    assert r == {"steps": 10000, "mismatches": 0, "viper": True}


def test_topup_list_says_how_each_arrived(tmp_path):
    """Issue 18: the page's last top-ups, newest first, typed or sent by the utility, in the
    request's language; a rejected code is not a top-up."""
    # the credit scenarios fill their 128k; the page's modules on top need more (the meter
    # serves its page at 160k and on 32 bits at 100k: tests/e2e/test_web_load.py)
    r = upy.run_json("credit_check.py", "cs_topups", "topups", METER_ROOT=tmp_path,
                     METER_EPOCH=T0, METER_SPEED=1, MICROPYPATH=bundle.micropypath(),
                     heap="256k")[0]
    assert r["en"] == [[True, 300, "3.00 INR (sent by the utility)"],
                       [False, 500, "5.00 INR (typed)"]]
    assert r["sw"] == ["3.00 INR (imetumwa na shirika la umeme)", "5.00 INR (iliandikwa)"]
