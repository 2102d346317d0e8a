"""The meter applies acks with a minimal strict parse (prepay.topics.ack_seq) instead of the
schema checker; it must accept exactly what prepay.protocol.decode(ACK, ...) accepts, with the
same seq, on both runtimes (CPython here, the unix-port MicroPython via
tests/device/upy/ack_check.py). Also: protocol re-exports the resident part unchanged."""
import importlib.util
import json
import random

import upy
from prepay import protocol as P
from prepay import topics as T

HAND = [
    b'{"ver": 1, "seq": 5}', b'{"seq": 5, "ver": 1}', b'{"ver":1,"seq":0}', b'{"ver":1,"seq":-3}',
    b'{"ver": 1, "seq": 123456789012345678901234567890}', b'{"ver": 1.0, "seq": 5}',
    b'{"ver": true, "seq": 5}', b'{"ver": 2, "seq": 5}', b'{"ver": "1", "seq": 5}',
    b'{"ver": null, "seq": 5}', b'{"seq": 5}', b'{"ver": 1}', b'{}', b'{"ver": 1, "seq": 5.0}',
    b'{"ver": 1, "seq": "5"}', b'{"ver": 1, "seq": true}', b'{"ver": 1, "seq": false}',
    b'{"ver": 1, "seq": null}', b'{"ver": 1, "seq": [5]}', b'{"ver": 1, "seq": {"a": 5}}',
    b'{"ver": 1, "seq": 5, "x": 1}', b'{"ver": 1, "seq": 5, "id": "a"}', b'{"ver": 1, "sequ": 5}',
    b'{"ver": 1, "seq": 5, "seq": 6}', b'{"ver": 1, "seq": 1e3}', b'{"ver": 1, "seq": 1e400}',
    b'[1, 5]', b'5', b'"ack"', b'null', b'true', b'', b' ', b'{', b'{"ver": 1, "seq": 5',
    b'{"ver": 1, "seq": 5}}', b'{"ver": 1, "seq": 5} x', b'\xff\xfe', b'{"ver": 1, "seq": 5}\x00',
    b'\xef\xbb\xbf{"ver": 1, "seq": 5}', b'{"v\xc3\xa9r": 1, "seq": 5}', b'{"ver": 01, "seq": 5}',
    b'{"ver": 1, "seq": -0}', b'{"ver": 1, "seq": NaN}', b'{"ver": 1, "seq": Infinity}',
    b'{"ver": 1, "seq": 0x10}', b"{'ver': 1, 'seq': 5}", b'{"ver": 1, "seq": 5,}',
    b'  {"ver" : 1 , "seq" : 7 }  ', b'{"ver": 1, "seq": 5}' + b" " * 2028,
    b'{"ver": 1, "seq": 5}' + b" " * 2029, b'{"ver": 1, "seq": 5}' + b" " * 5000,
]


def corpus():
    rnd = random.Random(7)
    out = list(HAND)
    alphabet = b'{}[]":,. 0123456789-+eEtrufalsnvq\\'
    for _ in range(400):      # mutations of a valid ack: flip, drop, insert bytes
        b = bytearray(rnd.choice(HAND[:8]))
        for _ in range(rnd.randint(1, 3)):
            k = rnd.randrange(len(b) + 1)
            op = rnd.randrange(3)
            if op == 0 and k < len(b):
                b[k] = rnd.choice(alphabet)
            elif op == 1 and k < len(b):
                del b[k]
            else:
                b[k:k] = bytes([rnd.choice(alphabet)])
        out.append(bytes(b))
    return out


def _cpython_check():
    spec = importlib.util.spec_from_file_location(
        "ack_check", upy.REPO / "tests" / "device" / "upy" / "ack_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.both


def test_ack_parse_matches_the_schema_on_cpython():
    both = _cpython_check()
    res = [both(p) for p in corpus()]
    assert [r["fast"] for r in res] == [r["schema"] for r in res]
    accepted = [r for r in res if r["schema"] is not None]
    assert len(accepted) > 10 and len(accepted) < len(res) - 50   # both sides exercised


def test_ack_parse_matches_the_schema_on_micropython(tmp_path):
    cases = corpus()
    src = tmp_path / "acks.jsonl"
    src.write_text("".join(json.dumps({"p": p.hex()}) + "\n" for p in cases))
    res = upy.run_json("ack_check.py", src)
    assert len(res) == len(cases)
    bad = [(p, r) for p, r in zip(cases, res) if r["fast"] != r["schema"]]
    assert not bad, bad[:5]
    assert sum(r["schema"] is not None for r in res) > 10


def test_protocol_reexports_the_resident_part():
    for name in ("VER", "ONLINE", "OFFLINE", "LWT", "INFO", "TELE", "REC", "EVT", "TREQ", "RES",
                 "UP", "CMD", "ACK", "REC_HDR", "REC_FMT", "R_REPLAY", "REC_MAX", "JSON_MAX",
                 "rec_header", "scalar", "dumps"):
        assert getattr(P, name) is getattr(T, name), name
    assert set(P.UP) == {"LWT", "info", "tele", "rec", "evt", "treq", "res"}


def test_dumps_stamps_the_version_and_encode_checks_first():
    assert json.loads(T.dumps({"seq": 3})) == {"seq": 3, "ver": 1}
    assert P.encode(P.ACK, seq=3) == T.dumps({"seq": 3})
    try:
        P.encode(P.ACK, seq="3")
    except P.ProtocolError:
        pass
    else:
        raise AssertionError("encode must check")
