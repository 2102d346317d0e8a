"""Commands to meters (token, relay, config), delivered end to end: a command counts as
delivered only when the meter's `res` for it comes back (docs/gateway.md "Command delivery").

Each command is a row of the `outbox` table (migrations/). Per meter, rows go out in id order,
only those within WINDOW rows of the oldest unanswered one: the meter queues 8 commands and
answers `busy` beyond that, and a window of 4 leaves room for the broker's copies of the same
commands after a reconnect. The window starts at the oldest unanswered row, so one row left
unanswered holds the rest back, and the tokens on the wire stay within OpenPAYGO's window
of 16 counts (MAX_WINDOW). Every publish is QoS 1 with the row's command id; the meter
answers a repeated id from its cache of results, so sending again is always safe:

- after `resend_s` without an answer, and soon after the meter (its retained LWT `Online`,
  its `info`) or the gateway reconnects (a broker restart may have lost what was in flight);
- `busy` (the meter's queue was full) is not a failure: the row is sent again in `busy_s`;
  nor is `config_error` (the meter has no valid config): the row stays open with that
  reason and is sent again after `resend_s`;
- a row not answered `expire_s` after it was queued ends `expired` (an alert, alerts.py).
  A late answer or the meter's token memory still settles it: what the meter did wins.

A token row belongs to a `transactions` row, which follows it: queued, sent, accepted,
`rejected: <reason>` or expired. A token the gateway delivered that the meter calls `used`
was applied (by an earlier publish whose answer was lost, or typed in from the receipt):
accepted, with that noted. The meter's `tok: [last, used]` (tele, info) reconciles tokens
still open or expired: a count it reports used is accepted.

apply_result/apply_tok run inside the ingest's write transaction (gateway/storage/ops.py);
`insert` inside the caller's (vending); `Outbox` is the thread that publishes.
"""
import json
import secrets
import threading
import time

from prepay import opaygo
from prepay import protocol as P

from gateway.storage import transactions

KINDS = (P.TOKEN, P.RELAY, P.CONFIG)
OPEN = ("queued", "sent")
WINDOW = 4            # rows from a meter's oldest unanswered one on the wire (it queues 8)
# OpenPAYGO takes an unused ADD token at most 16 counts behind the newest it accepted, and
# ADD counts go up by 2: 8 tokens on the wire at once can still all be applied in any order.
MAX_WINDOW = opaygo.OLDER // 2
RESEND_S = 30.0       # no answer this long: publish again
EXPIRE_S = 86400.0    # no answer this long after queueing: expired, alert
BUSY_S = 2.0          # after a `busy` answer, publish again this much later
RECONNECT_S = 1.0     # after a reconnect, what the broker still holds gets this long first
# answers that mean the meter applied nothing and may later: (reason kept on the open row,
# seconds before publishing again, None: at the usual re-send). A meter in a config-error state (no valid config) must
# not turn a paid top-up into a rejection: it stays open, visibly, until a corrected config
# lets the meter apply it, or it expires.
NOT_APPLIED = {"busy": ("the meter's command queue was full", BUSY_S),
               "config_error": ("the meter is in a config-error state: send a corrected "
                                "config (POST /api/meters/{id}/config)", None)}
TICK_S = 0.5          # the pump's idle period (resends and expiry are checked this often)


def command_id(kind, row_id, tx=None):
    """The id a command carries on the wire: a token its transaction's (tx-<n>), others
    their row's (<kind>-<n>), then a random part (.<8 hex digits>). A database restored from
    a backup, or started afresh, numbers rows again from where it stands: without the random
    part a new command could carry the id of one the meter still holds an answer for (its
    last 16) and be answered from that cache, never applied."""
    base = "tx-%d" % tx if kind == P.TOKEN and tx is not None else "%s-%d" % (kind, row_id)
    return "%s.%s" % (base, secrets.token_hex(4))


def insert(cur, mid, kind, fields, now, tx=None):
    """Queue a command inside the caller's transaction -> (row id, command id)."""
    if kind not in KINDS:
        raise ValueError("not a deliverable command: %r" % (kind,))
    # the contract, before it is stored (with the longest id it will carry)
    if len(P.encode(kind, id=command_id(P.CONFIG, 10 ** 12), **fields)) > P.JSON_MAX:
        raise P.ProtocolError("%s: payload too large (at most %d bytes)" % (kind, P.JSON_MAX))
    cur.execute("INSERT INTO outbox(mid, kind, cid, payload, tx, status, created, retry_at)"
                " VALUES (?,?,'',?,?,'queued',?,NULL)",
                (mid, kind, json.dumps(fields, sort_keys=True), tx, now))
    row = cur.lastrowid
    cid = command_id(kind, row, tx)
    cur.execute("UPDATE outbox SET cid=? WHERE id=?", (cid, row))
    return row, cid


def _settle(cur, row, status, reason, now, res, notes, meter_id):
    """End a row (and its transaction) with what the meter said."""
    rid, kind, tx = row
    cur.execute("UPDATE outbox SET status=?, reason=?, done=?, result=coalesce(?, result),"
                " retry_at=NULL WHERE id=?",
                (status, reason, now, json.dumps(res, sort_keys=True) if res else None, rid))
    if tx is not None:
        tstat = "rejected: %s" % reason if status == "rejected" else status
        transactions.set_status(cur, tx, tstat)
        notes.append(("status", meter_id, {"transaction": tx, "status": tstat}))
    notes.append(("status", meter_id, {"command": rid, "kind": kind, "status": status,
                                       "reason": reason}))


def apply_result(cur, mid, meter_id, res, notes, now=None):
    """The meter's `res`. -> True if it answered a command the gateway sent."""
    now = time.time() if now is None else now
    cid = str(res.get("id", ""))
    row = cur.execute("SELECT id, kind, tx, status, attempts FROM outbox WHERE mid=? AND cid=?",
                      (mid, cid)).fetchone()
    if row is None:
        return _legacy_result(cur, mid, meter_id, res, notes)
    rid, kind, tx, status, attempts = row
    if res.get("cmd") != kind:
        return False
    err = res.get("error")
    ok = bool(res.get("ok"))
    if not ok and err in NOT_APPLIED:     # nothing was applied: not an answer, try later
        why, wait_s = NOT_APPLIED[err]
        if status in OPEN:   # wait_s None: the usual re-send, `resend_s` after publishing
            cur.execute("UPDATE outbox SET retry_at=coalesce(?, retry_at), reason=? WHERE id=?",
                        (None if wait_s is None else now + wait_s, why, rid))
        notes.append(("status", meter_id, {"command": rid, "kind": kind, "status": err,
                                           "reason": why}))
        return True
    if status in ("accepted", "rejected"):
        return True                       # an answer repeated (a re-send's cached result)
    if ok:
        reason = "answered after expiry" if status == "expired" else None
        new = "accepted"
    elif kind == P.TOKEN and err == "used":
        new = "accepted"
        reason = "meter answered used on attempt %d: applied by an earlier delivery or " \
                 "typed in" % attempts
    else:
        new, reason = "rejected", str(err or "refused")[:200]
    _settle(cur, (rid, kind, tx), new, reason, now, res, notes, meter_id)
    return True


def _legacy_result(cur, mid, meter_id, res, notes):
    """A token answer for a transaction sent without the outbox (tx-<n>, make_api's
    `deliver` hook): the meter's word as it is."""
    rid = str(res.get("id", ""))
    if res.get("cmd") != P.TOKEN or not rid.startswith("tx-") or not rid[3:].isdigit():
        return False
    status = "accepted" if res.get("ok") else "rejected: %s" % res.get("error", "?")
    changed = transactions.set_status(cur, int(rid[3:]), status, mid=mid)
    notes.append(("status", meter_id, {"transaction": int(rid[3:]), "status": status}))
    return changed


def apply_tok(cur, mid, meter_id, tok, notes, now=None):
    """The meter's token memory: `last` the highest count it accepted, bit i of `used` set
    when count last-i was used. Token rows still open or expired whose count it reports used
    were applied: accepted. The next vend goes above `last`, even when the secrets file
    was restored from a backup or started afresh. -> how many were settled."""
    now = time.time() if now is None else now
    last, used = tok
    transactions.raise_count(cur, meter_id, last)
    n = 0
    for rid, tx, count in cur.execute(
            "SELECT o.id, o.tx, t.token_count FROM outbox o JOIN transactions t ON t.id=o.tx"
            " WHERE o.mid=? AND o.kind=? AND o.status IN ('queued','sent','expired')"
            " AND t.token_count BETWEEN ? AND ?",
            (mid, P.TOKEN, last - opaygo.OLDER, last)).fetchall():
        if used >> (last - count) & 1:
            _settle(cur, (rid, P.TOKEN, tx), "accepted",
                    "reconciled: the meter reports count %d used" % count, now, None, notes,
                    meter_id)
            n += 1
    return n


class Outbox:
    """The publishing side: a thread that sends queued rows in order within the window,
    sends unanswered ones again, and expires the stale. publish(meter_id, kind, **fields)
    -> bool is Ingest.send_command; connected() says whether the gateway has the broker."""

    def __init__(self, store, publish, connected=lambda: True, resend_s=RESEND_S,
                 expire_s=EXPIRE_S, window=WINDOW, busy_s=BUSY_S, reconnect_s=RECONNECT_S,
                 clock=time.time):
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError("command window must be 1..%d" % MAX_WINDOW)
        self.store = store
        self.publish = publish
        self.connected = connected
        self.resend_s, self.expire_s, self.window = resend_s, expire_s, window
        self.busy_s, self.reconnect_s = busy_s, reconnect_s
        self.clock = clock
        self.stats = {"queued": 0, "sent": 0, "resent": 0, "accepted": 0, "rejected": 0,
                      "expired": 0, "busy": 0, "config_error": 0, "reconciled": 0,
                      "publish_errors": 0, "pump_errors": 0}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pumping = threading.Lock()
        self.last_error = None
        self._reconnects = {}       # meter id -> when it reconnected (not yet applied)
        self._was_connected = False
        self.thread = None
        store.listen(self._note)

    # -- queueing ---------------------------------------------------------------------------
    def enqueue(self, meter_id, kind, fields):
        """Queue a relay or config command (tokens are queued by vend.topup with their
        transaction). -> the command as a dict."""
        with self.store.write() as cur:
            row = cur.execute("SELECT mid FROM meters WHERE id=? AND removed IS NULL",
                              (meter_id,)).fetchone()
            if row is None:
                raise KeyError(meter_id)
            rid = insert(cur, row[0], kind, fields, self.clock())[0]
        self.queued()
        return command(self.store, rid)

    def resend(self, meter_id, tx, now=None):
        """Queue an expired top-up again (an operator's decision, audited by the caller), with
        its command id: if the meter applied it and its answer was lost, it answers from its
        cache or says `used`, and the top-up ends accepted, never credited twice. Raises
        KeyError for an unknown top-up, ValueError unless it is expired. -> the command."""
        now = self.clock() if now is None else now
        notes = []
        with self.store.write(notes) as cur:
            row = cur.execute(
                "SELECT o.id, o.status FROM outbox o JOIN meters m USING(mid) WHERE m.id=?"
                " AND o.tx=? AND o.kind=? AND m.removed IS NULL", (meter_id, tx, P.TOKEN)).fetchone()
            if row is None:
                raise KeyError(tx)
            rid, status = row
            if status != "expired":
                raise ValueError("top-up %d is %s: only an expired one is sent again"
                                 % (tx, status))
            cur.execute("UPDATE outbox SET status='queued', created=?, done=NULL, retry_at=NULL,"
                        " reason='queued again after expiry' WHERE id=?", (now, rid))
            transactions.set_status(cur, tx, "queued")
            notes.append(("status", meter_id, {"transaction": tx, "status": "queued"}))
        self.queued()
        return command(self.store, rid)

    def queued(self):
        """Something was queued: send it now, in the caller's thread, so the API answers
        with the command `sent` when the meter's window has room."""
        self.stats["queued"] += 1
        self._pump_safely()

    def _note(self, kind, meter_id, data):
        """Store listener (after each commit): settled commands free window slots and are
        counted; a meter's LWT Online or info means it reconnected."""
        if kind != "status":
            return
        st = data.get("status")
        if "command" in data and (st in ("accepted", "rejected", "expired")
                                  or st in NOT_APPLIED):
            self.stats[st] += 1
            if (data.get("reason") or "").startswith("reconciled"):
                self.stats["reconciled"] += 1
            self._wake.set()
        elif data.get("online") == 1 or "fw" in data:    # the store notes online as 1
            with self._lock:
                self._reconnects[meter_id] = self.clock()
            self._wake.set()

    # -- the pump ---------------------------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._run, name="gateway-outbox", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._wake.set()
        if self.thread:
            self.thread.join(10)

    def _run(self):
        while not self._stop.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            self._pump_safely()

    def _pump_safely(self):
        try:
            with self._pumping:     # one pass at a time: its connected/reconnect bookkeeping
                self.pump()
        except Exception as e:  # noqa: the pump must survive a bad moment (counted)
            self.stats["pump_errors"] += 1
            self.last_error = repr(e)

    def pump(self, now=None):
        """One pass: expire, schedule re-sends after reconnects, publish what is due."""
        now = self.clock() if now is None else now
        connected = bool(self.connected())
        back = connected and not self._was_connected   # the gateway (re)gained the broker
        self._was_connected = connected
        with self._lock:
            reconnects, self._reconnects = self._reconnects, {}
        if self.store.reader().execute("SELECT 1 FROM outbox WHERE status IN ('queued','sent')"
                                       " LIMIT 1").fetchone() is None:
            return                  # nothing open: no write transaction every tick
        notes = []
        with self.store.write(notes) as cur:
            self._expire(cur, now, notes)
            soon = now + self.reconnect_s
            if back:
                cur.execute("UPDATE outbox SET retry_at=min(coalesce(retry_at, ?1), ?1)"
                            " WHERE status='sent'", (soon,))
            for meter_id, t in reconnects.items():
                cur.execute("UPDATE outbox SET retry_at=min(coalesce(retry_at, ?1), ?1)"
                            " WHERE status='sent' AND sent < ?2"
                            " AND mid=(SELECT mid FROM meters WHERE id=?3)", (soon, t, meter_id))
            if connected:
                self._send_due(cur, now)

    def _expire(self, cur, now, notes):
        rows = cur.execute(
            "SELECT o.id, o.kind, o.tx, o.attempts, m.id FROM outbox o JOIN meters m USING(mid)"
            " WHERE o.status IN ('queued','sent') AND o.created < ?",
            (now - self.expire_s,)).fetchall()
        for rid, kind, tx, attempts, meter_id in rows:
            _settle(cur, (rid, kind, tx), "expired",
                    "no answer from the meter within %d s (%d publishes)"
                    % (self.expire_s, attempts), now, None, notes, meter_id)

    def _send_due(self, cur, now):
        """Per meter, a row may be on the wire only within `window` rows of the oldest one
        still open, answered rows in between included: a row stuck unanswered holds back
        everything queued `window` places after it. (Counting only unanswered rows let one
        free slot carry a stream of newer tokens past three lost ones, until the meter's
        count ran more than 16 ahead and it refused them as `old`.)"""
        rows = cur.execute(
            "SELECT o.id, o.mid, m.id, o.kind, o.cid, o.payload, o.status, o.retry_at, o.tx"
            " FROM outbox o JOIN meters m USING(mid) WHERE o.status IN ('queued','sent')"
            " AND m.removed IS NULL ORDER BY o.mid, o.id").fetchall()
        last = {}                   # meter -> the newest row id inside its window
        for rid, mid, meter_id, kind, cid, payload, status, retry_at, tx in rows:
            if mid not in last:     # rows come oldest first: this one opens the window
                last[mid] = cur.execute(
                    "SELECT max(id) FROM (SELECT id FROM outbox WHERE mid=? AND id>=?"
                    " ORDER BY id LIMIT ?) s", (mid, rid, self.window)).fetchone()[0]
            if rid > last[mid]:
                continue
            if status == "sent" and retry_at is not None and retry_at > now:
                continue
            if not self.publish(meter_id, kind, id=cid, **json.loads(payload)):
                self.stats["publish_errors"] += 1
                continue
            cur.execute("UPDATE outbox SET status='sent', attempts=attempts+1, sent=?,"
                        " retry_at=? WHERE id=?", (now, now + self.resend_s, rid))
            if status == "queued":
                self.stats["sent"] += 1
                if tx is not None:
                    transactions.set_status(cur, tx, "sent", only_from="queued")
            else:
                self.stats["resent"] += 1


def command(store, row_id):
    rows = commands(store, None, row_id=row_id)
    return rows[0] if rows else None


def commands(store, meter_id, limit=100, row_id=None):
    """Commands newest first, with the meter's answer (`result`) and `reason`."""
    where, args = ("o.id=?", (row_id,)) if row_id is not None else ("m.id=?", (meter_id,))
    rows = store.query(
        "SELECT o.id, m.id AS meter, o.kind, o.cid, o.payload, o.tx AS transaction_id, o.status,"
        " o.attempts, o.created, o.sent, o.done, o.result, o.reason FROM outbox o"
        " JOIN meters m USING(mid) WHERE %s ORDER BY o.id DESC LIMIT ?" % where,
        args + (limit,))
    for r in rows:
        r["payload"] = json.loads(r["payload"])
        r["result"] = json.loads(r["result"]) if r["result"] else None
    return rows
