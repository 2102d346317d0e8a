"""Prometheus exposition of the gateway's counters and gauges, through prometheus_client.

The figures live in the store (its tables and its `stats`) and in the running services'
`stats` dicts, so they are collected at scrape time by one custom collector rather than
mirrored into library counters on every update: one source for each number. The
library writes the exposition (escaping, the `_total` suffix, HELP and TYPE lines).
"""
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4   # what generate_latest writes
COMMAND_STATUSES = ("queued", "sent", "accepted", "rejected", "expired")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class Rate:
    """Records/s over a sliding window, sampled at scrape time from a monotonic counter."""

    def __init__(self, window_s=10.0):
        self.window_s = window_s
        self.samples = []

    def update(self, count, now=None):
        now = time.monotonic() if now is None else now
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.pop(0)
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


def _counter(name, help_, value):
    """name without the _total suffix, which the library adds."""
    c = CounterMetricFamily(name, help_)
    c.add_metric([], value)
    return c


def _gauge(name, help_, value=None, labels=(), rows=()):
    g = GaugeMetricFamily(name, help_, value=value, labels=list(labels) or None)
    for label_values, v in rows:
        g.add_metric(list(label_values), v)
    return g


class Collector:
    """Everything /metrics shows, read when scraped."""

    def __init__(self, store, ingest=None, hub=None, rate=None, now=None, alerting=None,
                 notifier=None):
        self.store, self.ingest, self.hub, self.rate = store, ingest, hub, rate
        self.now, self.alerting, self.notifier = now, alerting, notifier

    def collect(self):
        store = self.store
        now = time.time() if self.now is None else self.now
        s = store.stats
        yield _counter("gateway_records", "Interval records stored (new, not duplicates).",
                       s["records"])
        yield _counter("gateway_duplicate_records",
                       "Records received again and ignored (idempotent by meter and seq).",
                       s["duplicates"])
        yield _counter("gateway_dead_letters",
                       "Payloads rejected into the dead-letter table since start.", s["dead"])
        yield _counter("gateway_events", "Meter events stored.", s["events"])
        yield _counter("gateway_batches", "Write transactions committed.", s["batches"])
        yield _counter("gateway_commit_seconds", "Time spent in write transactions.",
                       round(s["commit_s"], 6))
        yield _counter("gateway_counter_anomalies",
                       "Energy deltas excluded as register resets or implausible jumps.",
                       store.rollup.anomalies)
        if self.rate is not None:
            yield _gauge("gateway_ingest_rate", "Records stored per second (10 s window).",
                         round(self.rate.update(s["records"]), 1))
        meters = store.meters()
        online = sum(1 for m in meters if m["online"])
        yield _gauge("gateway_meters", "Registered meters by state.", labels=["state"],
                     rows=((["online"], online), (["offline"], len(meters) - online)))
        seen = [m["last_seen"] for m in meters if m.get("last_seen")]
        yield _gauge("gateway_ingest_lag_seconds",
                     "Age of the newest stored interval record when it was stored.",
                     round(s.get("lag_s", 0), 3))
        yield _gauge("gateway_oldest_last_seen_seconds",
                     "Seconds since the least recently heard meter was heard.",
                     round(now - min(seen), 1) if seen else 0)
        yield _gauge("gateway_unacked_records", "Records stored above the high-contiguous mark"
                     " (waiting for a replay to fill gaps).", store.pending())
        counts = {r["status"]: r["n"] for r in store.query(
            "SELECT status, count(*) n FROM outbox GROUP BY status")}
        yield _gauge("gateway_commands", "Commands to meters by delivery status "
                     "(gateway/outbox.py).", labels=["status"],
                     rows=(([st], counts.get(st, 0)) for st in COMMAND_STATUSES))
        yield from self._alerts()
        if self.ingest is not None:
            st = dict(getattr(self.ingest, "stats", {}) or {})
            for k in sorted(st):
                v = st[k]
                if isinstance(v, bool):
                    v = int(v)
                if isinstance(v, (int, float)):
                    yield _gauge("gateway_ingest_" + _name(k), "Ingest statistic %s." % k, v)
        if self.hub is not None:
            yield _gauge("gateway_stream_clients", "Live-stream clients connected.",
                         len(self.hub.clients))
            yield _counter("gateway_stream_dropped",
                           "Live-stream messages dropped for slow clients.", self.hub.dropped)

    def _alerts(self):
        """Alerts and their notifications (gateway/alerting.py, gateway/notify.py). From the
        tables, the totals are the highest row ids, which pruning old rows leaves as they
        are; from the running services, what this process did since it started."""
        store = self.store
        yield _gauge("gateway_alerts_open", "Open alerts by kind and severity.",
                     labels=["kind", "severity"], rows=(([r["kind"], r["severity"]], r["n"])
                                                        for r in store.query(
            "SELECT kind, severity, count(*) n FROM alerts WHERE cleared IS NULL"
            " GROUP BY kind, severity ORDER BY kind, severity")))
        yield _counter("gateway_alerts_raised", "Alerts raised (a reopened one is not raised "
                       "again).", store.query("SELECT coalesce(max(id), 0) n FROM alerts")[0]["n"])
        counts = {r["status"]: r["n"] for r in store.query(
            "SELECT status, count(*) n FROM alert_deliveries GROUP BY status")}
        yield _gauge("gateway_alert_deliveries",
                     "Alert notifications (webhook bodies, email digests) by status.",
                     labels=["status"], rows=(([st], counts.get(st, 0))
                                              for st in DELIVERY_STATUSES))
        yield _counter("gateway_alert_delivery_attempts",
                       "Attempts to deliver alert notifications, failed ones included.",
                       store.query("SELECT coalesce(max(id), 0) n FROM alert_attempts")[0]["n"])
        if self.alerting is not None:
            c = CounterMetricFamily("gateway_alert_changes", "Alert lifecycle changes made by "
                                    "this process, by change.", labels=["change"])
            for k in ("raised", "reopened", "cleared"):
                c.add_metric([k], self.alerting.stats[k])
            yield c
            yield _counter("gateway_alert_evaluations", "Alert evaluations by this process.",
                           self.alerting.stats["evaluations"])
        if self.notifier is not None:
            c = CounterMetricFamily("gateway_alert_notifier", "Notification work done by this "
                                    "process, by outcome.", labels=["outcome"])
            for k in ("notices", "attempts", "errors", "delivered", "failed"):
                c.add_metric([k], self.notifier.stats[k])
            yield c


def render(store, ingest=None, hub=None, rate=None, now=None, alerting=None, notifier=None):
    """The exposition text (format 0.0.4, as CONTENT_TYPE says)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(store, ingest, hub, rate, now, alerting, notifier))
    return generate_latest(registry).decode()


def _name(k):
    return "".join(c if c.isalnum() else "_" for c in str(k)).lower()
