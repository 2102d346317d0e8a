"""A prepaid meter's monthly statement (docs/billing.md, "Prepaid statements").

A prepaid consumer pays before using: the meter debits its credit at its own time-of-use
tariff and the gateway sends no invoice. The statement is the month's account of that: the
top-ups, what the tariff charges for the month's energy by time-of-use bucket and the
standing charge, and the reconciliation of those charges with what the meter actually took
from its credit (gateway/billing.py reconcile, the one place it is computed). The statement
is the monthly bill with the meter's own tariff (a format-1 "tou" plan), so its figures are
the bill's, line for line.

`drift` is charged - debited. Rounding makes it a unit or so (each statement line is rounded
half-up, the meter rounds its debits down and carries the rest); more means the meter and
the gateway disagree (a meter pricing at another tariff, lost records, a top-up
credited twice or never). A final statement whose drift is beyond the tolerance (the alert
threshold `reconciliation_tolerance`, fleet-wide or per meter) raises a
`reconciliation_drift` alert (gateway/alerts.py) until a newer statement is within it.
"""
import argparse
import json
import os
import sys
import time

from gateway import billing
from gateway.alerting import Alerting
from gateway.storage.database import is_url

BATCH = 500      # statements kept per transaction by a run
TARIFF_PLAN = ("meter tariff", billing.Plan({"name": "The meter's own tariff",
                                            "energy": {"type": "tou"}}))


class StatementError(Exception):
    """A statement that cannot be made: .status 400 bad period, 404 no meter, 409 no tariff."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def statement(store, meter_id, period, now=None):
    """The statement of one meter for one month of its local time (a dict, amounts in minor
    units as the meter counts its credit)."""
    if not billing.is_month(period):
        try:
            billing.period_bounds(period, 0)
        except billing.BillError as e:
            raise StatementError(400, str(e))
        raise StatementError(400, "a statement is for a calendar month YYYY-MM, got %r"
                             % (period,))
    meter = store.meter(meter_id)
    if meter is not None and not meter.get("tariff"):
        raise StatementError(409, "meter %s has no tariff: a prepaid statement shows what the "
                             "meter's own tariff debits" % meter_id)
    try:
        b = billing.bill(store, meter_id, period, now=now, plan=TARIFF_PLAN)
    except billing.BillError as e:
        raise StatementError(e.status, str(e))
    p = b["prepaid"]
    debits = [{"bucket": x["bucket"], "wh": x["wh"], "rate": x["rate"], "exact": x["exact"],
               "amount": x["amount"]} for x in b["lines"] if x["kind"] == "energy"]
    standing = None
    for x in b["lines"]:
        if x["kind"] == "standing":
            t = store.rollup.pricing.tariff(meter["tariff"])
            standing = {"days": x["days"], "per_day": billing.dec(t.standing_milli, 1000),
                        "exact": x["exact"], "amount": x["amount"]}
    tolerance = Alerting(store).thresholds(meter_id)["reconciliation_tolerance"]
    drift = p["difference_meter"]
    final = {"removal": b["removal"]} if "removal" in b else {}   # the account's last one
    return dict(final, **{"meter": meter_id, "name": b["name"], "period": period, "from": b["from"],
            "to": b["to"], "utc_offset_min": b["utc_offset_min"], "days": b["days"],
            "service_days": b["service_days"], "tariff": meter["tariff"],
            "currency": _currency(store, meter), "final": b["final"],
            "energy_wh": b["energy_wh"], "topups": p["topups"],
            "topups_accepted": p["topups_accepted"], "topups_pending": p["topups_pending"],
            "debits": debits, "standing": standing, "charged": p["billed_meter"],
            "reconciliation": {
                "records": p["records"], "opening": p["opening"], "closing": p["closing"],
                "metered_wh": p["metered_wh"], "debited": p["debited"], "drift": drift,
                "tolerance": tolerance,
                "within_tolerance": None if drift is None else abs(drift) <= tolerance}})


def _currency(store, meter):
    """The currency of the meter's billing plan, if it has one that loads ("" otherwise)."""
    try:
        return billing.plan_for(store, meter)[1].currency or ""
    except (billing.BillError, billing.PlanError):
        return ""


def save(cur, st, now):
    """Keep the statement (one per meter and month: made again, it replaces the last)."""
    r = st["reconciliation"]
    cur.execute("INSERT INTO statements(meter, period, made, final, charged, debited, drift,"
                " doc) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(meter, period) DO UPDATE SET"
                " made=excluded.made, final=excluded.final, charged=excluded.charged,"
                " debited=excluded.debited, drift=excluded.drift, doc=excluded.doc",
                (st["meter"], st["period"], now, int(st["final"]), st["charged"],
                 r["debited"], r["drift"], json.dumps(st, separators=(",", ":"))))


def stored(store, meter_id=None, period=None, beyond=False):
    """Kept statements, newest month first, without their documents: {meter, period, made,
    final, charged, debited, drift}; beyond=True: only those with a drift (any size)."""
    where, args = [], []
    for col, v in (("meter", meter_id), ("period", period)):
        if v is not None:
            where.append("%s=?" % col)
            args.append(v)
    if beyond:
        where.append("drift IS NOT NULL AND drift != 0")
    rows = store.query("SELECT meter, period, made, final, charged, debited, drift FROM"
                       " statements%s ORDER BY period DESC, meter" % (
                           " WHERE " + " AND ".join(where) if where else ""), tuple(args))
    return [dict(r, final=bool(r["final"])) for r in rows]


def run(store, period, group=None, now=None, progress=None):
    """Make and keep the statement of every meter with a tariff (or of one group) for
    `period`. Re-runnable: each meter's statement is made again from what is stored now.
    -> {"period", "group", "meters", "made": [{meter, charged, debited, drift,
    within_tolerance}], "failed": [{meter, status, reason}], "closed": [{meter,
    disconnected}]} (closed: removed before the period, so without a statement)."""
    now = int(time.time()) if now is None else now
    meters, closed = billing.billable_meters(store, period, group)
    out = {"period": period, "group": group, "meters": len(meters), "made": [], "failed": [],
           "closed": closed}
    pending = []

    def keep():   # a transaction per BATCH statements, not per meter (a commit each)
        with store.write() as cur:
            for st in pending:
                save(cur, st, now)
        del pending[:]

    for n, mid in enumerate(meters, 1):
        try:
            st = statement(store, mid, period, now)
            pending.append(st)
            r = st["reconciliation"]
            out["made"].append({"meter": mid, "charged": st["charged"], "debited": r["debited"],
                                "drift": r["drift"], "within_tolerance": r["within_tolerance"]})
        except StatementError as e:
            out["failed"].append({"meter": mid, "status": e.status, "reason": str(e)})
        if len(pending) >= BATCH:
            keep()
        if progress:
            progress(n, len(meters))
    keep()
    return out


def main(argv):
    """python -m gateway statement --db FILE --period YYYY-MM [--meter ID [--format F]
    [--out FILE] | --group G]"""
    ap = argparse.ArgumentParser(
        prog="python -m gateway statement",
        description="Prepaid meters' monthly statements: one meter's (printed as JSON, CSV or "
        "PDF), or every meter's (or a group's), kept for the reconciliation alert")
    ap.add_argument("--db", required=True, help="the gateway's SQLite database (must exist)")
    ap.add_argument("--period", required=True, help="the month, YYYY-MM (meters' local time)")
    who = ap.add_mutually_exclusive_group()
    who.add_argument("--meter", help="this meter only: print its statement")
    who.add_argument("--group", help="only the meters of this group")
    ap.add_argument("--format", choices=("json", "csv", "pdf"), default="json",
                    help="with --meter: how to print it (default json)")
    ap.add_argument("--out", help="write to this file instead of stdout (a PDF needs it)")
    a = ap.parse_args(argv)
    try:
        billing.period_bounds(a.period, 0)
    except billing.BillError as e:
        ap.error(str(e))
    if a.meter is None and (a.format != "json" or a.out):
        ap.error("--format and --out print one meter's statement: give --meter")
    if a.format == "pdf" and not a.out:
        ap.error("a PDF is written to a file: give --out FILE")
    if not is_url(a.db) and not os.path.exists(a.db):
        ap.error("no database at %s" % a.db)
    from gateway.store import Store
    store = Store(a.db, shared=True)   # the gateway may be running on the same file
    try:
        if a.meter is None:
            def progress(done, total):
                if done % 500 == 0 or done == total:
                    print("statements: %d/%d meters" % (done, total), file=sys.stderr,
                          flush=True)
            report = run(store, a.period, a.group, progress=progress)
            print(json.dumps(report, indent=1))
            return 1 if report["failed"] else 0
        try:
            st = statement(store, a.meter, a.period)
        except StatementError as e:
            print("python -m gateway statement: %s" % e, file=sys.stderr)
            return 1
        with store.write() as cur:
            save(cur, st, int(time.time()))
        if a.format == "json":
            data = (json.dumps(st, indent=1) + "\n").encode()
        else:
            from gateway import statement_render
            data = statement_render.pdf_bytes(st, statement_render.utility(store)) \
                if a.format == "pdf" else statement_render.csv_text(st).encode()
    finally:
        store.close()
    if a.out:
        with open(a.out, "wb") as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0
