"""Load with other work: 4 clients keep refreshing live data (and now and then the whole
page and charts) while the meter meters and syncs over MQTT to a real mosquitto, all under
the capped heap. Asserts no measurement window is missed and nothing failed; prints the
worst web response time (measured by the meter and by the clients) and the heap
high-water mark. Figures only, no wall-clock thresholds. The same load runs on the 32-bit
unix port (the ESP32's object sizes) under the ESP32's 100k: the frozen firmware, and the
loose .mpy bundle as host_tools.flash installs it (README "Memory")."""
import threading
import time

import paho.mqtt.client as mqtt

import webmeter
from waits import wait_until
from host_tools.wifiworld import World

SECONDS = 25
CLIENTS = 4


def test_four_clients_while_metering_and_syncing(tmp_path, broker_factory, artifacts):
    load(tmp_path, broker_factory, "frozen")


def load(tmp_path, broker_factory, kind, heap=None):
    """The load on a meter running firmware `kind` (host_tools.fleet.firmware) under `heap`."""
    b = broker_factory(users={"m-web-1": "mpw", "watcher": "wpw"})
    got = []
    w = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher")
    w.username_pw_set("watcher", "wpw")
    w.on_message = lambda c, u, msg: got.append(msg.topic)
    w.connect(b.host, b.port)
    w.subscribe("pm/#", qos=1)
    w.loop_start()

    doc = webmeter.config(webmeter.free_port(),
                          mqtt={"host": b.host, "port": b.port, "password": "mpw", "tele_s": 2},
                          journal={"interval_s": 5},
                          wifi={"ssid": "site-ap", "password": "site-pass-1"},
                          ntp={"host": ""})      # no NTP server here
    World(tmp_path / "flash", "site-ap", "site-pass-1")   # the access point its sync joins
    m = webmeter.start(kind, tmp_path / "flash", doc, heap)
    try:
        # its WiFi join (~3 s), then MQTT: the load runs on a synced meter
        wait_until(lambda: m.status()["sync"]["online"], 20)
        before = m.status()
        stop = time.monotonic() + SECONDS
        lat, errors, counts = [], [], [0] * CLIENTS

        def client(k):
            n = 0
            while time.monotonic() < stop:
                path = "/api/live"
                if n % 20 == 19:
                    path = "/"                     # a full page view now and then
                elif n % 20 == 9:
                    path = "/api/history.svg?span=month" if k % 2 else "/api/events?n=8"
                t0 = time.monotonic()
                try:
                    st, body = m.get(path, timeout=10)
                    if st != 200:
                        errors.append((path, st, body[:200]))
                    elif path == "/" and not body.rstrip().endswith(b"</html>"):
                        errors.append((path, "truncated", body[-200:]))   # failed mid-stream
                except OSError as e:
                    errors.append((path, repr(e)))
                lat.append(time.monotonic() - t0)
                counts[k] += 1
                n += 1
                time.sleep(0.25)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 30)
        after = m.status()
    finally:
        m.stop()
        w.loop_stop()
        w.disconnect()
    log = m.log.read_text()
    assert not errors, (errors[:5], log[-2000:])
    assert "Traceback" not in log and "MemoryError" not in log, log[-3000:]
    assert after["missed"] == 0
    windows = after["windows"] - before["windows"]
    assert windows >= SECONDS - 3
    sync = after["sync"]
    assert sync["online"] and sync["records"] >= 1
    assert any(t.endswith("/tele") or "/tele" in t for t in got) and len(got) >= 5
    lat.sort()
    web = after["web"]
    print("\nweb load (%s, -X heapsize=%s): %d clients, %d requests in %d s (%.1f req/s), %d metering windows, "
          "missed %d; MQTT: %d messages seen at the broker, %d records synced"
          % (kind, m.heap, CLIENTS, sum(counts), SECONDS, sum(counts) / SECONDS, windows, after["missed"],
             len(got), sync["records"]))
    print("web load: worst response %d ms (meter-side), client p50 %.0f ms, p99 %.0f ms, "
          "worst %.0f ms; heap high-water %d B of -X heapsize=%s (free now %d B)"
          % (web["worst_ms"], lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000,
             lat[-1] * 1000, web["heap_hw"], m.heap, after["heap_free"]))


def test_four_clients_on_the_esp32_heap(tmp_path, broker_factory, artifacts):
    """The frozen firmware on the 32-bit port (the ESP32's object sizes) under the ESP32's
    100k. The loose bundle needs about 152k for this load (README "Memory")."""
    load(tmp_path, broker_factory, "frozen32")
