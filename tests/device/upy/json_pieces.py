# web.api.out on a heap with no block for the whole JSON text: it must answer with the
# same JSON in pieces (tests/device/test_web_json.py).
import gc
import json

from web.api import out, _pieces

for v in ({}, [], {"a": [1, {"b": None}], "c": 'x"y', "d": []}, [[], {}, 1.5, True], "s"):
    t = "".join(_pieces(v))
    assert json.loads(t) == v, t

big = {"events": [{"at": "2026-12-07 10:%02d" % i, "text": "top-up of 12.00 accepted"}
                  for i in range(40)]}
whole = out(big)
print(json.dumps({"whole": type(whole.body) is bytes, "size": len(whole.body)}))
del whole
gc.collect()
got = [None] * 600   # the pieces, kept for the check (made before the heap is cut up)
# fill the heap with 400-byte blocks, then free every other one: plenty free, no large block
hold = []
try:
    while True:
        hold.append(bytearray(400))
except MemoryError:
    pass
for i in range(0, len(hold), 2):
    hold[i] = None
gc.collect()
free = gc.mem_free()
r = out(big)
n = 0
for p in ((r.body,) if type(r.body) is bytes else r.body):
    got[n] = p
    n += 1
hold = None
gc.collect()
text = "".join(p if isinstance(p, str) else p.decode() for p in got[:n])
print(json.dumps({"free": free, "pieces": type(r.body) is not bytes, "same": json.loads(text) == big,
                  "status": r.status_code, "type": r.headers["Content-Type"]}))
