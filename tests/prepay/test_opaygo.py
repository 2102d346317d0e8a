"""The shared OpenPAYGO codec (prepay/opaygo.py, prepay/siphash.py) on CPython: SipHash-2-4
against the paper's vectors and the reference package, and our encoder against the
reference `openpaygo` encoder bit for bit (the gateway vends with ours)."""
import random

import openpaygo
import pytest
import siphash as ref_siphash

from prepay import opaygo
from prepay.opaygo import ADD, SET, DISABLE, COUNTER_SYNC, Codec
from prepay.siphash import siphash24

KEY = "bc41ec9530f6dac86b1a29ab82edc5fb"


def test_siphash_paper_vectors():
    key = bytes(range(16))
    assert siphash24(key, b"") == 0x726FDB47DD0E0E31          # digest bytes 31 0e 0e dd ...
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5  # the paper's example


@pytest.mark.parametrize("n", range(0, 40))
def test_siphash_matches_reference_every_length(n):
    rnd = random.Random(n)
    key = bytes(rnd.getrandbits(8) for _ in range(16))
    data = bytes(rnd.getrandbits(8) for _ in range(n))
    assert siphash24(key, data) == ref_siphash.SipHash_2_4(key, data).hash()


def _cases(n, seed):
    rnd = random.Random(seed)
    for _ in range(n):
        ext = rnd.random() < 0.35
        mode = rnd.choice([ADD, SET] if ext else [ADD, ADD, SET, DISABLE, COUNTER_SYNC])
        value = rnd.randrange(0, 10**6 if ext else 996) if mode in (ADD, SET) else None
        yield (bytes(rnd.getrandbits(8) for _ in range(16)).hex(),
               rnd.choice([None, rnd.randrange(1, 10**9)]), ext, mode, value,
               rnd.randrange(0, 200), rnd.random() < 0.3)


def test_encoder_matches_reference_bit_for_bit():
    n = 0
    for key, start, ext, mode, value, last, restricted in _cases(1000, 7):
        count, ref = openpaygo.generate_token(
            secret_key=key, count=last, value=value, token_type=mode, starting_code=start,
            restricted_digit_set=restricted, extended_token=ext)
        mine, mine_count = Codec(key, start, ext).vend(value, last, mode, restricted)
        assert (mine, mine_count) == (ref, count), (key, start, ext, mode, value, last)
        n += 1
    assert n == 1000


def test_cpython_decoder_reads_reference_tokens():
    for key, start, ext, mode, value, last, restricted in _cases(300, 11):
        count, tok = openpaygo.generate_token(
            secret_key=key, count=last, value=value, token_type=mode, starting_code=start,
            restricted_digit_set=restricted, extended_token=ext)
        st, v, m, c = Codec(key, start, ext).decode(tok, last, 1)
        assert (st, m, c) == (opaygo.OK, mode, count)
        if mode in (ADD, SET):
            assert v == value


def test_starting_code_default_is_the_references():
    c = Codec(KEY)
    count, ref = openpaygo.generate_token(secret_key=KEY, count=0, value=7)
    assert c.encode(7, count) == ref


def test_next_count_parity():
    assert [opaygo.next_count(c, ADD) for c in (0, 1, 2, 3)] == [2, 2, 4, 4]
    assert [opaygo.next_count(c, SET) for c in (0, 1, 2, 3)] == [1, 3, 3, 5]


def test_replay_memory_semantics():
    c = Codec(KEY, 516959010)
    last, used = 0, 1
    t2, t4, t6 = c.encode(1, 2), c.encode(2, 4), c.encode(3, 6)
    st, v, m, n = c.decode(t6, last, used)               # out of order: newest first
    assert (st, v, n) == (opaygo.OK, 3, 6)
    last, used = opaygo.apply(last, used, n, m)
    assert c.decode(t6, last, used)[0] == opaygo.USED
    st, v, m, n = c.decode(t4, last, used)               # older, unused ADD: still fine
    assert (st, v) == (opaygo.OK, 2)
    last, used = opaygo.apply(last, used, n, m)
    assert c.decode(t4, last, used)[0] == opaygo.USED
    s5 = c.encode(50, 7, SET)                            # a SET marks the window used
    st, v, m, n = c.decode(s5, last, used)
    last, used = opaygo.apply(last, used, n, m)
    assert c.decode(t2, last, used)[0] == opaygo.USED
    far = Codec(KEY, 516959010).encode(9, 40)
    assert c.decode(far, 40 + 30, 0)[0] == opaygo.OLD    # beyond the 16-count memory


@pytest.mark.parametrize("bad", ["12345678", "1234567890", "12345678a", "", "５６７８９０１２３",
                                 "123451234512345", "1" * 16])
def test_format_errors_are_invalid(bad):
    assert Codec(KEY).decode(bad, 0, 1)[0] == opaygo.INVALID


@pytest.mark.parametrize("kwargs, msg", [
    (dict(key="abc"), "32 hexadecimal"),
    (dict(key="zz" * 16), "32 hexadecimal"),
    (dict(key=KEY, starting_code=10**9), "starting code"),
])
def test_codec_setup_errors(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Codec(**kwargs)


@pytest.mark.parametrize("args, msg", [
    ((996, 2), "0..995"), ((-1, 2), "0..995"), ((5, 3), "even count"), ((5, 0), "even count"),
    ((5, 2, 9), "unknown token mode"),
])
def test_encode_errors(args, msg):
    with pytest.raises(ValueError, match=msg):
        Codec(KEY).encode(*args)


def test_extended_has_no_disable_or_sync():
    with pytest.raises(ValueError, match="ADD or SET"):
        Codec(KEY, extended=True).encode(None, 3, DISABLE)
