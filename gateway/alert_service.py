"""The gateway service's alerting: its command-line settings, its secrets (from files or the
environment, never argv), and the thread that evaluates alerts and sends notifications.

Evaluation runs every --alert-every-s, and sooner after ingest writes records, status or
dead letters (at most every WAKE_MIN_S: the conditions cost a few small queries per meter),
but never sooner than WAKE_DUTY times the last evaluation took (a large fleet's takes
seconds). Deliveries are attempted once a second, each when due (gateway/notify.py).
Hourly, it prunes what retention has passed and, once a local month has ended, makes that
month's prepaid statements (gateway/statements.py).
"""
import argparse
import os
import threading
import time

from gateway import statements
from gateway.alerting import Alerting
from gateway.notify import Notifier
from gateway.notify_email import EmailSender
from gateway.notify_webhook import WebhookSender

STEP_S = 1.0
PRUNE_EVERY_S = 3600.0
WAKE_MIN_S = 5.0   # after ingest, evaluate at most this often: each costs queries per meter
# Neither, nor the periodic evaluation, comes sooner than this many times the last one took:
# at 100,000 meters one takes seconds, and evaluating at every wake took a third of the
# gateway's CPU from ingest (host_tools/fleetsim.py, docs/gateway.md "Fleet at scale")
WAKE_DUTY = 10
SECRETS = {"--webhook-secret": "$GATEWAY_WEBHOOK_SECRET or --webhook-secret-file FILE",
           "--smtp-password": "$GATEWAY_SMTP_PASSWORD or --smtp-password-file FILE"}


def add_arguments(ap, host_port, refused):
    g = ap.add_argument_group("alerts (docs/gateway.md \"Alerts\")")
    g.add_argument("--alert-every-s", type=float, default=30.0, metavar="S",
                   help="evaluate alerts at least this often (and after ingest batches)")
    g.add_argument("--alert-digest-s", type=float, default=60.0, metavar="S",
                   help="an email digest gathers a recipient's notices for this long")
    g.add_argument("--alert-give-up-s", type=float, default=3600.0, metavar="S",
                   help="stop retrying a notification this long after it was made")
    g.add_argument("--webhook-secret-file", metavar="FILE",
                   help="the webhooks' HMAC-SHA256 secret (else $GATEWAY_WEBHOOK_SECRET)")
    g.add_argument("--smtp", type=host_port, metavar="HOST:PORT",
                   help="send alert emails through this SMTP server")
    g.add_argument("--smtp-from", default="gateway@localhost", help="the emails' From address")
    g.add_argument("--smtp-user", help="SMTP login (password: $GATEWAY_SMTP_PASSWORD or "
                   "--smtp-password-file)")
    g.add_argument("--smtp-password-file", metavar="FILE")
    g.add_argument("--smtp-starttls", action="store_true", help="STARTTLS before the login")
    for opt in SECRETS:
        ap.add_argument(opt, action=refused, help=argparse.SUPPRESS)


def secrets(read, a, env=os.environ):
    """Set a.webhook_secret (bytes, or None: no webhook sender) and a.smtp_password."""
    secret = (read(a.webhook_secret_file).strip() if a.webhook_secret_file
              else env.get("GATEWAY_WEBHOOK_SECRET", ""))
    a.webhook_secret = secret.encode() or None
    a.smtp_password = (read(a.smtp_password_file).strip() if a.smtp_password_file
                       else env.get("GATEWAY_SMTP_PASSWORD")) or None
    return a


def make(store, a):
    """(alerting, notifier) as the arguments configure them."""
    senders = {}
    if a.webhook_secret:
        senders["webhook"] = WebhookSender(a.webhook_secret)
    if a.smtp:
        senders["email"] = EmailSender(a.smtp[0], a.smtp[1], a.smtp_from, a.smtp_user,
                                       a.smtp_password, a.smtp_starttls)
    notifier = Notifier(store, senders, digest_s=a.alert_digest_s, give_up_s=a.alert_give_up_s)
    return Alerting(store, notifier.on_change), notifier


class AlertLoop:
    def __init__(self, store, alerting, notifier, every_s, log=print, after_evaluate=None):
        """after_evaluate() runs after each evaluation (the retained Home Assistant state,
        gateway/ha_alerts.py). Alerts and deliveries that ended longer ago than the store's
        retention are pruned hourly."""
        self.alerting, self.notifier, self.every_s, self.log = alerting, notifier, every_s, log
        self.after_evaluate = after_evaluate
        self.store = store
        self.retention_s = store.retention_s
        self.stop_event, self.wake = threading.Event(), threading.Event()
        store.listen(lambda kind, meter, data: kind in ("records", "status", "dead")
                     and self.wake.set())

    def start(self):
        threading.Thread(target=self._run, name="gateway-alerts", daemon=True).start()
        return self

    def stop(self):
        self.stop_event.set()

    def monthly_statements(self, now):
        """Once the site's local month has ended, the prepaid statements of every meter for
        it (gateway/statements.py; checked hourly, made once: a month with any statement kept
        is done). Their drift raises reconciliation_drift at the next evaluation.
        -> the run's summary, or None when nothing was due."""
        t = time.gmtime(now + self.store.utc_offset_min * 60)
        y, m = (t.tm_year, t.tm_mon - 1) if t.tm_mon > 1 else (t.tm_year - 1, 12)
        period = "%04d-%02d" % (y, m)
        if statements.stored(self.store, period=period):
            return None
        out = statements.run(self.store, period, now=now)
        self.log("gateway: statements for %s: %d made, %d not (%s)" % (
            period, len(out["made"]), len(out["failed"]),
            "; ".join("%s: %s" % (f["meter"], f["reason"]) for f in out["failed"][:3]) or "-"))
        self.wake.set()   # evaluate soon: a drift beyond tolerance is an alert
        return out

    def _run(self):
        since = self.every_s   # evaluate at once
        pruned = 0.0
        took = 0.0             # seconds the last evaluation took
        while True:
            try:
                if pruned <= 0:
                    pruned = PRUNE_EVERY_S
                    self.notifier.prune(self.notifier.clock() - self.retention_s)
                    self.monthly_statements(int(time.time()))
                if since >= WAKE_DUTY * took and (since >= self.every_s or (
                        self.wake.is_set() and since >= WAKE_MIN_S)):
                    self.wake.clear()
                    since = 0.0
                    t = time.monotonic()
                    self.alerting.evaluate()
                    took = time.monotonic() - t
                    if self.after_evaluate:
                        self.after_evaluate()
                self.notifier.step()
            except Exception as e:   # a bad row or a full disk must not end alerting for good
                self.log("gateway: alerts: %s: %s" % (type(e).__name__, e))
            if self.stop_event.wait(STEP_S):
                return
            since += STEP_S
            pruned -= STEP_S
