"""Notifications of raised and cleared alerts to subscribers, with a delivery log.

A subscription names a channel (webhook or email), a target (URL or address) and the kinds,
meters and groups it wants (an empty list means all). When gateway/alerting.py raises or
clears an alert, `Notifier.on_change` queues a notice per matching subscription, in the
alert's own transaction. `Notifier.step(now)` then:
- gathers each subscription's pending notices into one delivery: a webhook body, or an email
  digest once the oldest notice has waited `digest_s` (so a fleet outage is one email per
  recipient, not one per meter);
- sends the deliveries that are due through the channel's sender, logging every attempt
  (status code, latency, error); a failure is retried with exponential backoff and full
  jitter until `give_up_s` after the delivery was made, then it is marked failed.
Senders: gateway/notify_webhook.py and gateway/notify_email.py, each `send(target, body)
-> status code` raising SendError on failure.
"""
import json
import random
import time

from gateway.alerting import COLUMNS, row_out

CHANNELS = ("webhook", "email")
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 600.0
LEASE_S = 120.0      # a claimed delivery is not attempted by another worker for this long
NOTICES_MAX = 1000   # per delivery: a body stays a few hundred KB; the rest go in the next


class SendError(Exception):
    def __init__(self, message, status_code=None):
        super().__init__(message)
        self.status_code = status_code


def backoff_s(attempts, first=BACKOFF_FIRST_S, cap=BACKOFF_MAX_S, rand=random.random):
    """Full jitter (AWS architecture blog): uniform in [0, min(cap, first * 2^(n-1))], so
    receivers coming back after an outage are not hit by every gateway at once."""
    return rand() * min(cap, first * 2 ** (attempts - 1))


def matches(sub, alert, group):
    return ((not sub["kinds"] or alert["kind"] in sub["kinds"])
            and (not sub["meters"] or alert["meter"] in sub["meters"])
            and (not sub["groups"] or (group is not None and group in sub["groups"])))


def sub_out(r):
    d = dict(r)
    for k in ("kinds", "meters", "groups"):
        d[k] = json.loads(d[k])
    return d


class Notifier:
    def __init__(self, store, senders, digest_s=60.0, give_up_s=3600.0,
                 backoff_first_s=BACKOFF_FIRST_S, clock=time.time, rand=random.random):
        """senders: {channel: send(target, body) -> status code}."""
        self.store = store
        self.senders = senders
        self.digest_s, self.give_up_s, self.backoff_first_s = digest_s, give_up_s, backoff_first_s
        self.clock, self.rand = clock, rand
        self.stats = {"notices": 0, "delivered": 0, "failed": 0, "attempts": 0, "errors": 0}

    # -- subscriptions ------------------------------------------------------------------------
    def subscribe(self, channel, target, kinds=(), meters=(), groups=()):
        with self.store.write() as cur:
            cur.execute("INSERT INTO alert_subscriptions(channel, target, kinds, meters, groups,"
                        " created) VALUES(?,?,?,?,?,?)",
                        (channel, target, json.dumps(sorted(set(kinds))),
                         json.dumps(sorted(set(meters))), json.dumps(sorted(set(groups))),
                         int(self.clock())))
            sub_id = cur.lastrowid
        return self.subscription(sub_id)

    def subscription(self, sub_id):
        rows = self.store.query("SELECT * FROM alert_subscriptions WHERE id=?", (sub_id,))
        return sub_out(rows[0]) if rows else None

    def subscriptions(self):
        return [sub_out(r) for r in self.store.query("SELECT * FROM alert_subscriptions ORDER BY id")]

    def unsubscribe(self, sub_id):
        """False if there was none. Its pending notices go with it, and its pending
        deliveries end failed (no more retries to a target the operator removed); its log
        stays."""
        now = self.clock()
        with self.store.write() as cur:
            cur.execute("DELETE FROM alert_subscriptions WHERE id=?", (sub_id,))
            gone = cur.rowcount
            cur.execute("DELETE FROM alert_notices WHERE sub=? AND delivery IS NULL", (sub_id,))
            cur.execute("INSERT INTO alert_attempts(delivery, t, status_code, latency_ms, error)"
                        " SELECT id, ?, NULL, 0, 'subscription removed' FROM alert_deliveries"
                        " WHERE sub=? AND status='pending'", (now, sub_id))
            cur.execute("UPDATE alert_deliveries SET status='failed', done=? WHERE sub=?"
                        " AND status='pending'", (now, sub_id))
        return bool(gone)

    # -- notices ------------------------------------------------------------------------------
    def on_change(self, cur, alert, event, now):
        """gateway/alerting.py's hook, inside its write transaction."""
        cur.execute("SELECT * FROM alert_subscriptions")
        names = [d[0] for d in cur.description]
        subs = [sub_out(dict(zip(names, r))) for r in cur.fetchall()]
        group = None
        if alert["meter"] is not None:
            cur.execute("SELECT grp FROM meters WHERE id=?", (alert["meter"],))
            row = cur.fetchone()
            group = row[0] if row else None
        for s in subs:
            if matches(s, alert, group):
                cur.execute("INSERT INTO alert_notices(sub, alert, event, t) VALUES(?,?,?,?)",
                            (s["id"], alert["id"], event, now))
                self.stats["notices"] += 1

    # -- deliveries ---------------------------------------------------------------------------
    def step(self, now=None):
        """Gather pending notices into deliveries, then send the due ones. Returns how many
        deliveries were attempted."""
        now = self.clock() if now is None else now
        self._gather(now)
        due = self.store.query("SELECT * FROM alert_deliveries WHERE status='pending'"
                               " AND next_at<=? ORDER BY id", (now,))
        for d in due:
            self._attempt(d, now)
        return len(due)

    def _gather(self, now):
        with self.store.write() as cur:
            cur.execute("SELECT s.id, s.channel, s.target, min(n.t) FROM alert_notices n"
                        " JOIN alert_subscriptions s ON s.id=n.sub WHERE n.delivery IS NULL"
                        " GROUP BY s.id")
            for sub, channel, target, oldest in cur.fetchall():
                if channel == "email" and now - oldest < self.digest_s:
                    continue   # still collecting the digest
                cur.execute("SELECT n.id AS notice, n.event AS event, n.t AS notice_t, %s"
                            " FROM alert_notices n JOIN alerts a"
                            " ON a.id=n.alert WHERE n.sub=? AND n.delivery IS NULL ORDER BY n.id LIMIT ?"
                            % ", ".join("a." + c.strip() for c in COLUMNS.split(",")),
                            (sub, NOTICES_MAX))
                names = [d[0] for d in cur.description]
                rows = [dict(zip(names, r)) for r in cur.fetchall()]
                body = json.dumps({"subscription": sub, "sent": int(now), "notices": [
                    {"event": r["event"], "t": r["notice_t"], "alert": row_out(
                        {k: v for k, v in r.items() if k not in ("notice", "event", "notice_t")})}
                    for r in rows]}, sort_keys=True)
                cur.execute("INSERT INTO alert_deliveries(sub, channel, target, body, status,"
                            " created, next_at) VALUES(?,?,?,?,'pending',?,?)",
                            (sub, channel, target, body, now, now))
                did = cur.lastrowid
                cur.executemany("UPDATE alert_notices SET delivery=? WHERE id=?",
                                [(did, r["notice"]) for r in rows])

    def _claim(self, d, now):
        """True if this process may attempt d now: workers sharing the database (--shared-db)
        each step the notifier, and a delivery must be sent by one of them."""
        with self.store.write() as cur:
            cur.execute("UPDATE alert_deliveries SET next_at=? WHERE id=? AND status='pending'"
                        " AND next_at=?", (now + LEASE_S, d["id"], d["next_at"]))
            return cur.rowcount == 1

    def _attempt(self, d, now):
        if not self._claim(d, now):
            return
        send = self.senders.get(d["channel"])
        start = time.monotonic()
        code, error = None, None
        try:
            if send is None:
                raise SendError("no %s sender is configured" % d["channel"])
            code = send(d["target"], d["body"])
        except SendError as e:
            code, error = e.status_code, str(e)
        except OSError as e:   # refused, unreachable, timed out, TLS: a failed attempt
            error = "%s: %s" % (type(e).__name__, e)
        latency_ms = int((time.monotonic() - start) * 1000)
        attempts = d["attempts"] + 1
        self.stats["attempts"] += 1
        if error is None:
            status, next_at, done = "delivered", now, now
            self.stats["delivered"] += 1
        else:
            self.stats["errors"] += 1
            next_at = now + backoff_s(attempts, self.backoff_first_s, rand=self.rand)
            gave_up = next_at - d["created"] > self.give_up_s
            status, done = ("failed", now) if gave_up else ("pending", None)
            self.stats["failed"] += gave_up
        with self.store.write() as cur:
            cur.execute("INSERT INTO alert_attempts(delivery, t, status_code, latency_ms, error)"
                        " VALUES(?,?,?,?,?)", (d["id"], now, code, latency_ms, error))
            cur.execute("UPDATE alert_deliveries SET status=?, attempts=?, next_at=?, done=?"
                        " WHERE id=?", (status, attempts, next_at, done, d["id"]))

    def prune(self, before):
        """Forget what ended before `before`: finished deliveries with their attempts and
        notices, then alerts cleared by then that no pending notice still names. Open alerts
        and pending deliveries stay, however old."""
        with self.store.write() as cur:
            done = "SELECT id FROM alert_deliveries WHERE status!='pending' AND done<?"
            cur.execute("DELETE FROM alert_attempts WHERE delivery IN (%s)" % done, (before,))
            cur.execute("DELETE FROM alert_notices WHERE delivery IN (%s)" % done, (before,))
            cur.execute("DELETE FROM alert_deliveries WHERE id IN (%s)" % done, (before,))
            cur.execute("DELETE FROM alerts WHERE cleared<? AND id NOT IN"
                        " (SELECT alert FROM alert_notices)", (before,))
            return cur.rowcount

    def deliveries(self, status=None, limit=100):
        rows = self.store.query("SELECT id, sub, channel, target, status, attempts, created,"
                                " next_at, done FROM alert_deliveries%s ORDER BY id DESC LIMIT ?"
                                % (" WHERE status=?" if status else ""),
                                ((status,) if status else ()) + (limit,))
        for d in rows:
            d["attempt_log"] = self.store.query(
                "SELECT t, status_code, latency_ms, error FROM alert_attempts WHERE delivery=?"
                " ORDER BY id", (d["id"],))
        return rows

