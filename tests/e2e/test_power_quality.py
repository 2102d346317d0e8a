"""Power quality end to end on the real unix_sim firmware: the PZEM simulator and the analog
front-end's simulator (outside the meter, as on a board) are driven through sags, swells and
a frequency step by their <root>/supply file; the meter's pq events (start, end, worst
value, limit), its per-day counts in /api/status, and the page's status line show them."""
import json
import re
import time

import pytest

import webmeter
from host_tools import pzem_sim
from waits import wait_until

# durations short enough for a test: over/under-voltage and frequency after 2 s
PQ = {"long_s": 2}


@pytest.fixture(params=["pzem", "analog"])
def meter(request, tmp_path):
    root = tmp_path / "flash"
    sim = pzem_sim.spawn(root) if request.param == "pzem" else None
    m = webmeter.Meter(webmeter.build_firmware(), root,
                       webmeter.config(webmeter.free_port(), measure={"source": request.param},
                                       pq=PQ))
    m.source = request.param
    yield m
    m.stop()
    if sim is not None:
        sim.terminate()
        sim.wait()
    assert "Traceback" not in m.log.read_text(), m.log.read_text()[-3000:]


def supply(m, text):
    (m.root / "supply").write_text(text)


def pq_events(m):
    return [e for e in m.json("GET", "/api/events?n=32")[1] if e.get("kind") == "pq"]


def counts(m):
    return m.status().get("pq", {})


def drive(m, text, ends, held_s=4.0):
    """Hold the supply at `text` until the conditions named in `ends` started, then go back
    to normal and wait for their events; -> those events by `what`."""
    supply(m, text)
    assert wait_until(lambda: all(counts(m).get(w, 0) >= 1 for w in ends), 15), counts(m)
    time.sleep(max(0.0, held_s - 3))
    supply(m, "230 50")
    assert wait_until(lambda: {e["what"] for e in pq_events(m)} >= set(ends), 15), pq_events(m)
    return {e["what"]: e for e in pq_events(m)}


def close(value, want, tolerance):
    return abs(value - want) <= tolerance


def test_sags_swells_and_frequency_become_events_counts_and_page_text(meter):
    m = meter
    tol_dv = 0 if m.source == "pzem" else 25     # the analog front-end measures within ~1 %
    supply(m, "230 50")
    ev = drive(m, "180", ("sag", "under_voltage"))
    for what, limit in (("sag", 1955), ("under_voltage", 2070)):
        e = ev[what]
        assert e["limit"] == limit and e["start"] <= e["end"], e
        assert close(e["worst"], 1800, tol_dv), e
    ev = drive(m, "270", ("swell", "over_voltage"))
    assert ev["swell"]["limit"] == 2645 and close(ev["swell"]["worst"], 2700, tol_dv), ev
    assert ev["over_voltage"]["limit"] == 2530
    ev = drive(m, "230 52", ("frequency",))
    assert ev["frequency"]["limit"] == 5100 and close(ev["frequency"]["worst"], 5200, 20), ev
    c = counts(m)
    assert {k: v for k, v in c.items() if v} == {"sag": 1, "under_voltage": 1, "swell": 1,
                                                 "over_voltage": 1, "frequency": 1}, c
    page = m.get("/")[1].decode()
    assert re.search("supply today: 1 frequency, 1 over-voltage, 1 sag, 1 swell, "
                     "1 under-voltage", page), page[:3000]
    texts = [e["text"] for e in pq_events(m)]
    assert "Supply quality event: sag" in texts, texts
    print("\n%s: %s" % (m.source, json.dumps({w: (e["worst"], e["end"] - e["start"])
                                            for w, e in ev.items()})))
