"""The real metering loop for one simulated hour, with the PZEM simulator and with the
analog source, under a capped heap: no MemoryError, no task restart, a flat live heap
after warm-up. Prints the heap figures."""
import json

import pytest
import bundle
import upy
from host_tools import adc_feed, pzem_sim
from prepay.opaygo import Codec

HEAP = "128k"   # the metering core's budget (README "Memory")
SPEED = 240  # one meter-hour in 15 real seconds
EPOCH = 1767225600  # 2026-01-01T00:00Z
KEY = "00112233445566778899aabbccddeeff"


def _config(root, source):
    cfg = {"meter": {"id": "m-soak"}, "mqtt": {"host": ""}, "web": {"port": 0},
           "measure": {"source": source},
           "tariff": {"rates": {"std": 800}},
           "token": {"key": KEY}}
    (root / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("source", ["pzem", "analog"])
def test_one_hour_flat_heap(tmp_path, source):
    _config(tmp_path, source)
    # each front-end simulated outside the meter, so the heap measured is the board's
    sim = (pzem_sim.spawn(tmp_path, "--speed", SPEED) if source == "pzem"
           else adc_feed.spawn(tmp_path))
    try:
        (r,) = upy.run_json("meter_soak.py", 1, Codec(KEY).vend(500, 0)[0], heap=HEAP, timeout=120, METER_ROOT=tmp_path,
                            METER_SPEED=SPEED, METER_EPOCH=EPOCH,
                            MICROPYPATH=bundle.micropypath())
    finally:
        sim.terminate()
        sim.wait()
    heap = r["heap"]
    warm = heap[len(heap) // 4:]
    print(f"\n{source}: heap {HEAP}: live after gc min {min(warm)} max {max(warm)} "
          f"peak {r['peak_live']} free {r['free']} windows {r['windows']} missed {r['missed']} "
          f"wh {r['wh']} credit {r['credit']} records {r['journal_seq'] - 1}")
    assert r["topup"]["result"] == "accepted"
    assert r["restarts"] == [], r["restarts"]
    assert r["wh"] > 50 and r["credit"] < 500 * 100   # the load ran and was paid for
    assert r["status"] == "ok" and r["windows"] >= 3000 and r["journal_seq"] > 50
    assert max(warm) - min(warm) < 2048, heap   # flat: no growth beyond GC noise
    assert warm[-1] <= warm[0] + 1024, heap
