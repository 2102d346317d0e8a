"""Prometheus text exposition (format 0.0.4) of the gateway's counters and gauges."""
import time


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


def _line(out, name, kind, help_, value, labels=None):
    if kind:
        out.append("# HELP %s %s" % (name, help_))
        out.append("# TYPE %s %s" % (name, kind))
    lab = ""
    if labels:
        lab = "{%s}" % ",".join('%s="%s"' % (k, str(v).replace('"', '\\"'))
                                for k, v in sorted(labels.items()))
    out.append("%s%s %s" % (name, lab, float(value) if isinstance(value, float) else int(value)))


def render(store, ingest=None, hub=None, rate=None, now=None):
    now = time.time() if now is None else now
    s = store.stats
    out = []
    _line(out, "gateway_records_total", "counter", "Interval records stored (new, not duplicates).",
          s["records"])
    _line(out, "gateway_duplicate_records_total", "counter",
          "Records received again and ignored (idempotent by meter and seq).", s["duplicates"])
    _line(out, "gateway_dead_letters_total", "counter",
          "Payloads rejected into the dead-letter table since start.", s["dead"])
    _line(out, "gateway_events_total", "counter", "Meter events stored.", s["events"])
    _line(out, "gateway_batches_total", "counter", "Write transactions committed.", s["batches"])
    _line(out, "gateway_commit_seconds_total", "counter", "Time spent in write transactions.",
          round(s["commit_s"], 6))
    _line(out, "gateway_counter_anomalies_total", "counter",
          "Energy deltas excluded as register resets or implausible jumps.", store.rollup.anomalies)
    if rate is not None:
        _line(out, "gateway_ingest_rate", "gauge", "Records stored per second (10 s window).",
              round(rate.update(s["records"]), 1))
    meters = store.meters()
    online = sum(1 for m in meters if m["online"])
    _line(out, "gateway_meters", "gauge", "Registered meters by state.", online, {"state": "online"})
    _line(out, "gateway_meters", None, "", len(meters) - online, {"state": "offline"})
    seen = [m["last_seen"] for m in meters if m.get("last_seen")]
    _line(out, "gateway_ingest_lag_seconds", "gauge",
          "Age of the newest stored interval record when it was stored.", round(s.get("lag_s", 0), 3))
    _line(out, "gateway_oldest_last_seen_seconds", "gauge",
          "Seconds since the least recently heard meter was heard.",
          round(now - min(seen), 1) if seen else 0)
    _line(out, "gateway_unacked_records", "gauge",
          "Records stored above the high-contiguous mark (waiting for a replay to fill gaps).",
          store.pending())
    if ingest is not None:
        st = dict(getattr(ingest, "stats", {}) or {})
        for k in sorted(st):
            v = st[k]
            if isinstance(v, bool):
                v = int(v)
            if isinstance(v, (int, float)):
                _line(out, "gateway_ingest_" + _name(k), "gauge", "Ingest statistic %s." % k, v)
    if hub is not None:
        _line(out, "gateway_stream_clients", "gauge", "Live-stream clients connected.",
              len(hub.clients))
        _line(out, "gateway_stream_dropped_total", "counter",
              "Live-stream messages dropped for slow clients.", hub.dropped)
    return "\n".join(out) + "\n"


def _name(k):
    return "".join(c if c.isalnum() else "_" for c in str(k)).lower()
