"""Benchmark (make bench): the consumer page's budgets (issue 18), printed, not asserted.

- Page weight: the page as streamed in each shipped language plus every asset it loads
  (s.css.gz, app.js.gz), gzipped, against the 12 KB budget.
- Render cost: a full page render (page.render consumed to the last chunk, charts, top-ups
  and events included) on the unix port with the firmware frozen in, per language, against
  the 20 ms budget; the same-run baseline is the /api/live view the page polls every 2 s.
- Heap: the live heap high-water the meter itself measures (/api/status web.heap_hw) after
  clients fetch the page in every language, the charts, the top-ups and the live view, on
  the 32-bit frozen firmware (the ESP32's object sizes) under the ESP32's 100k (HEAP32),
  against that budget."""
import gzip
import json
import subprocess
import sys
import threading
import time

import upy

sys.path.insert(0, str(upy.REPO / "tests" / "e2e"))
import webmeter  # noqa: E402  (the web tests' real meter)
from host_tools import adc_feed  # noqa: E402
from host_tools.fleet import HEAP, HEAP32, firmware, firmware_cmd, upy_env  # noqa: E402
from host_tools.webassets import languages  # noqa: E402

LANGS = languages()
TARIFF = {"name": "TOU", "rates": {"peak": "950.5", "std": 650, "off": "412.125"},
          "default": "std", "windows": [{"rate": "peak", "from": "18:00", "to": "22:00"},
                                        {"rate": "off", "from": "22:00", "to": "06:00"}]}
CONSUMER = {"name": "Asha Mwangi", "account": "ACC-20417",
            "buy": "Buy codes at any M-Pesa agent or dial *150*22#"}
N = 20

PROBE = """
import gc, time, json
from board import Board
import meter
m = meter.boot(Board())
from web import page, api, view
def cost(fn):
    best = None
    for _ in range(%d):      # the fastest run: the machine is shared, contention only adds
        gc.collect()
        t = time.ticks_us()
        fn()
        dt = time.ticks_diff(time.ticks_us(), t)
        best = dt if best is None or dt < best else best
    return best / 1000
def render(lang):
    n = 0
    for c in page.render(m, "00" * 8, lang):
        n += len(c)
    return n
out = {"live": cost(lambda: json.dumps(api.live(m)))}
for lang in %r:
    out[lang] = cost(lambda: render(lang))
t = time.ticks_us()
for _ in range(20):
    view.words(("on",), "hi")
out["words_hi"] = time.ticks_diff(time.ticks_us(), t) / 20000
print("RENDER", json.dumps(out))
""" % (N, LANGS)


def config(port):
    return webmeter.config(port, tariff=TARIFF, consumer=CONSUMER)


def render_ms(tmp_path):
    exe, fw = firmware("frozen")
    root = tmp_path / "render"
    root.mkdir()
    (root / "config.json").write_text(json.dumps(config(webmeter.free_port())))
    feed = adc_feed.spawn(root)
    try:
        env = upy_env(fw, root, epoch=webmeter.EPOCH)
        r = subprocess.run(firmware_cmd(HEAP, fw, exe)[:-2] + ["-c", PROBE], cwd=str(fw),
                           env=env, capture_output=True, text=True, timeout=120)
    finally:
        feed.terminate()
        feed.wait(5)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RENDER ")]
    assert line, (r.stdout + r.stderr)[-2000:]
    return json.loads(line[0][7:])


def weight_and_heap(tmp_path):
    m = webmeter.start("frozen32", tmp_path / "flash", config(webmeter.free_port()), HEAP32)
    try:
        css, js = m.get("/s.css")[1], m.get("/app.js")[1]
        weights = {}
        for lang in LANGS:
            html = m.get("/?lang=" + lang)[1]
            weights[lang] = (len(html), len(gzip.compress(html, 9)), len(css), len(js))
        paths = ["/?lang=" + x for x in LANGS] + [
            "/api/chart?span=day", "/api/chart?span=month", "/api/topups", "/api/live",
            "/api/events?n=8"]
        errors = []

        def client(k):
            end = time.monotonic() + 10
            i = k
            while time.monotonic() < end:
                st = m.get(paths[i % len(paths)], timeout=10)[0]
                if st != 200:
                    errors.append(st)
                i += 1
        ts = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        web = m.status()["web"]
        return weights, web, errors
    finally:
        m.stop()


def test_bench_consumer_page(tmp_path):
    ms = render_ms(tmp_path)
    weights, web, errors = weight_and_heap(tmp_path)
    print("\nconsumer page weight (streamed HTML gzipped + s.css.gz + app.js.gz), budget "
          "12288 B:")
    for lang, (raw, gz, css, js) in weights.items():
        total = gz + css + js
        print("  %-3s html %5d B (%5d B gzipped) + css %d B + js %d B = %5d B  (%.2fx budget)"
              % (lang, raw, gz, css, js, total, total / 12288))
    print("full page render on the 64-bit unix port, frozen firmware, best of %d, budget "
          "20 ms (baseline: the /api/live view, %.2f ms):" % (N, ms["live"]))
    for lang in LANGS:
        print("  %-3s %6.2f ms  (%.2fx budget, %.1fx /api/live)"
              % (lang, ms[lang], ms[lang] / 20, ms[lang] / ms["live"]))
    print("  (one words() lookup in hi: %.2f ms)" % ms["words_hi"])
    hw = web["heap_hw"]
    budget = int(HEAP32.rstrip("k")) * 1024
    print("heap high-water under 3 clients (page in %s, charts, top-ups, live, events), "
          "32-bit frozen firmware under -X heapsize=%s: %d B (%.2fx budget); %d requests, "
          "%d rejected, %d busy, worst %d ms; failed: %s"
          % ("/".join(LANGS), HEAP32, hw, hw / budget, web["requests"], web["rejected"],
             web["busy"], web["worst_ms"], errors or "none"))
