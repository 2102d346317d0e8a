"""The gateway process: ingest + API + live stream + Home Assistant discovery + retention.

    GATEWAY_MQTT_PASSWORD=PW GATEWAY_API_KEYS=KEY python -m gateway --db build/gateway.db \
        --broker 127.0.0.1:1883 --user gateway --api-port 8080

`Gateway(args)` assembles the parts; `run()` serves until SIGINT/SIGTERM. `ApiServer` runs
the HTTP API on its own event-loop thread (the service's main loop, and tests).
"""
import asyncio
import json
import sys
import threading
import time

from gateway import alert_service

PRUNE_EVERY_S = 3600
# How long a thread may hold the GIL while another waits for it (CPython's default is 5 ms).
# paho's network thread gives the GIL up at every socket call and the ingest writer then
# holds it for its Python work: with 5 ms slices paho waits, the broker's socket backs up and
# a gateway took 0.60-0.86x the bare subscriber's message rate; with 0.5 ms, 0.82-1.00x in
# the same runs (tests/bench/bench_gateway_ingest.py, docs/gateway.md "Ingest at scale").
SWITCH_INTERVAL_S = 0.0005
DISCOVERY_EVERY_S = 300


class ApiServer:
    """Run a microdot app (an Api) on a background thread's event loop."""

    def __init__(self, api, host="127.0.0.1", port=8080):
        self.api, self.host, self.port = api, host, port
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error = None
        self.thread = threading.Thread(target=self._run, name="gateway-api", daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        if getattr(self.api, "hub", None) is not None:
            self.api.hub.bind(self.loop)

        async def main():
            server = await self.api.app.start_server(self.host, self.port, start_serving=False)
            await server.start_serving()   # listening before start() returns
            self._ready.set()
            async with server:
                try:
                    await server.serve_forever()
                except asyncio.CancelledError:
                    pass
        try:
            self.loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        except Exception as e:  # reported by start()
            self._error = e
            self._ready.set()
        finally:  # let cancelled client tasks (streams) finish before the loop closes
            rest = asyncio.all_tasks(self.loop)
            for t in rest:
                t.cancel()
            self.loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            self.loop.close()

    def start(self, timeout=10):
        self.thread.start()
        if not self._ready.wait(timeout) or self._error:
            raise RuntimeError("API server did not start on %s:%d: %s" % (self.host, self.port,
                                                                        self._error))
        return self

    def stop(self):
        if self.thread.is_alive():
            def cancel():
                for t in asyncio.all_tasks(self.loop):
                    t.cancel()
            self.loop.call_soon_threadsafe(cancel)
            self.thread.join(10)

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)


class Publisher:
    """A small paho client for Home Assistant discovery (retained, QoS 1), apart from the
    ingest connection (whose session and shared subscription it must not disturb). QoS 1
    messages published while disconnected are queued by paho and sent on reconnect."""

    def __init__(self, host, port, user, password, client_id, ca=None):
        import paho.mqtt.client as mqtt
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=False)
        if user:
            self.c.username_pw_set(user, password)
        if ca:
            self.c.tls_set(ca_certs=str(ca))
        self.c.reconnect_delay_set(1, 30)
        self.connected = threading.Event()
        self.on_connect = None
        self.c.on_connect = self._connected
        self.c.on_disconnect = lambda *a: self.connected.clear()
        self.host, self.port = host, port

    def _connected(self, client, userdata, flags, reason, props):
        if not reason.is_failure:
            self.connected.set()
            if self.on_connect:
                threading.Thread(target=self.on_connect, daemon=True).start()

    def start(self):
        self.c.connect_async(self.host, self.port, keepalive=30)
        self.c.loop_start()
        return self

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()

    def publish(self, topic, payload, retain=False):
        import paho.mqtt.client as mqtt
        rc = self.c.publish(topic, payload, qos=1, retain=retain).rc
        return rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)  # sent, or queued by paho

    def retained(self, topic, payload):
        return self.publish(topic, payload, retain=True)


class Gateway:
    def __init__(self, a):
        from gateway.api import make_api
        from gateway.ha import Discovery
        from gateway.ha_alerts import AlertState
        from gateway.ingest import Ingest
        from gateway.live import Hub
        from gateway.outbox import Outbox
        from gateway.store import Store

        self.a = a
        self.store = Store(a.db, retention_days=a.retention_days, utc_offset_min=a.utc_offset_min,
                           shared=a.shared_db)
        for path in a.tariff or ():
            doc = json.loads(open(path).read())
            self.store.put_tariff(doc.get("name") or path.rsplit("/", 1)[-1].split(".")[0], doc)
        host, port = a.broker
        kw = {"prefix": a.prefix, "client_id": a.client_id, "ca": getattr(a, "ca", None)}
        if getattr(a, "out_user", ""):   # acks and commands on their own login (ingest.py)
            kw.update(out_user=a.out_user, out_password=a.out_password)
        if a.share:
            kw["share"] = a.share
        if getattr(a, "api_only", False):   # the workers ingest; this one serves and publishes
            kw["subscribe"] = False
        if getattr(a, "sim_clock", None):
            epoch, speed, t0 = a.sim_clock[0], a.sim_clock[1], time.time()
            kw["clock"] = lambda: int(epoch + (time.time() - t0) * speed)
        self.ingest = Ingest(self.store, host, port, a.user, a.password, **kw)
        self.pub = None
        self.discovery = None
        if a.ha_discovery:
            self.pub = Publisher(host, port, a.user, a.password, a.client_id + "-ha", kw["ca"])
            self.discovery = Discovery(self.store, self.pub.retained, a.prefix, a.ha_prefix)
            self.pub.on_connect = lambda: self.discovery.sync(force=True)
        self.hub = Hub(self.store)
        # tokens, relay and config commands: delivered until the meter answers (outbox.py)
        self.outbox = Outbox(self.store, self.ingest.send_command,
                             lambda: self.ingest.stats["out_connected"],
                             resend_s=a.command_resend_s, expire_s=a.command_expire_s,
                             window=a.command_window)
        # alerts: evaluated and notified on their own thread (gateway/alert_service.py)
        self.alerting, self.notifier = alert_service.make(self.store, a)
        self.ha_alerts = None
        if self.discovery:   # open alerts as retained MQTT state (gateway/ha_alerts.py)
            self.ha_alerts = AlertState(self.store, self.alerting, self.pub.retained, a.ha_prefix)
            self.pub.on_connect = lambda: (self.discovery.sync(force=True),
                                           self.ha_alerts.sync(force=True))
        self.alerts = alert_service.AlertLoop(
            self.store, self.alerting, self.notifier, a.alert_every_s,
            after_evaluate=self.ha_alerts.sync if self.ha_alerts else None)
        self.api = make_api(self.store, self.ingest, a.api_key or (), self.hub,
                            outbox=self.outbox, alerting=self.alerting, notifier=self.notifier,
                            on_meters=self.discovery.sync if self.discovery else None,
                            health_extra=self.health)
        from gateway.console import mount   # the operator console at / (docs/console.md)
        self.console = mount(self.api, self.store, getattr(a, "currency", ""),
                             getattr(a, "currency_decimals", 2), getattr(a, "console_assets", None),
                             getattr(a, "console_secure_cookies", False))
        self.server = ApiServer(self.api, a.api_host, a.api_port)
        self._stop = threading.Event()
        self._rediscover = threading.Event()
        if self.discovery:   # a firmware version change updates the HA device (not in the writer)
            self.store.listen(lambda kind, meter, data: kind == "status" and "fw" in data
                              and self._rediscover.set())

    def health(self):
        out = {"outbox": dict(self.outbox.stats), "alerts": dict(self.alerting.stats),
               "notifications": dict(self.notifier.stats)}
        if self.discovery is None:
            return dict(out, home_assistant={"enabled": False})
        return dict(out, home_assistant={"enabled": True, "connected": self.pub.connected.is_set(),
                                         "published": self.discovery.published})

    def start(self):
        sys.setswitchinterval(SWITCH_INTERVAL_S)   # process-wide: this process is the gateway
        self.ingest.start()
        self.outbox.start()
        self.alerts.start()
        if self.pub:
            self.pub.start()
        self.server.start()
        threading.Thread(target=self._housekeeping, name="gateway-housekeeping", daemon=True).start()
        return self

    def _housekeeping(self):
        last_prune = last_disc = 0.0
        while not self._stop.wait(5):
            now = time.monotonic()
            if now - last_prune >= PRUNE_EVERY_S:
                last_prune = now
                self.store.prune()
            if self.discovery and (self._rediscover.is_set() or now - last_disc >= DISCOVERY_EVERY_S):
                self._rediscover.clear()
                last_disc = now
                self.discovery.sync()

    def stop(self):
        self._stop.set()
        self.server.stop()
        self.alerts.stop()
        self.outbox.stop()
        self.ingest.stop()
        if self.pub:
            self.pub.stop()
        self.store.close()
