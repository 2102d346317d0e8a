"""The fleet billing run: invoice every meter (or one group) for a month (docs/billing.md,
"Fleet billing run"), from the command line (`python -m gateway bill-run`) or the API.

Idempotent and re-runnable: a meter that already has an issued invoice for the period is
reported as already invoiced and left alone (the unique index on live invoices per meter and
period backs this up), so a run stopped half-way is finished by running it again, and past
periods are back-filled the same way. A meter that cannot be billed (no plan, no tariff...)
is listed with the reason and the run goes on.
"""
import argparse
import json
import os
import sys
import time

from gateway import billing, invoices
from gateway.storage.database import is_url, target_arg


def run(store, period, group=None, issue=True, now=None, progress=None):
    """Bill the meters of `group` (all when None) for `period`; returns the report:
    {"period", "group", "meters", "invoiced": [{"meter", "ref"}], "already": [...],
    "failed": [{"meter", "status", "reason"}], "closed": [{"meter", "disconnected"}]}
    (closed: removed before the period, so billed no more). progress(done, total) after
    each meter."""
    now = int(time.time()) if now is None else now
    meters, closed = billing.billable_meters(store, period, group)
    done = {r[0]: r[1] for r in store.reader().execute(
        "SELECT meter, number FROM invoices WHERE period=? AND kind='invoice' AND"
        " state='issued'", (period,))}
    out = {"period": period, "group": group, "meters": len(meters), "invoiced": [],
           "already": [], "failed": [], "closed": closed}
    for n, mid in enumerate(meters, 1):
        if mid in done:
            out["already"].append({"meter": mid, "ref": done[mid]})
        else:
            try:
                bill = invoices.month_bill(store, mid, period, None, now)
                with store.write() as cur:   # the draft and its number commit together
                    inv = invoices.save_draft(cur, bill, now)
                    ref = invoices.issue_draft(cur, inv, now) if issue else "draft-%d" % inv
                out["invoiced"].append({"meter": mid, "ref": ref})
            except invoices.InvoiceError as e:
                out["failed"].append({"meter": mid, "status": e.status, "reason": str(e)})
        if progress:
            progress(n, len(meters))
    return out


def main(argv):
    """python -m gateway bill-run --db FILE --period YYYY-MM [--group G] [--draft]"""
    ap = argparse.ArgumentParser(prog="python -m gateway bill-run",
                                 description="Invoice every meter (or a group) for a month")
    ap.add_argument("--db", required=True, type=target_arg,
                    help="the gateway's SQLite database (must exist) or PostgreSQL URL")
    ap.add_argument("--period", required=True, help="the month, YYYY-MM (meters' local time)")
    ap.add_argument("--group", help="only the meters of this group")
    ap.add_argument("--draft", action="store_true", help="leave drafts, do not issue them")
    a = ap.parse_args(argv)
    try:
        billing.period_bounds(a.period, 0)
    except billing.BillError as e:
        ap.error(str(e))
    if not is_url(a.db) and not os.path.exists(a.db):
        ap.error("no database at %s" % a.db)
    from gateway.store import Store    # not needed by run(): the API passes its own
    store = Store(a.db, shared=True)   # the gateway may be running on the same file
    try:
        def progress(done, total):
            if done % 500 == 0 or done == total:
                print("bill-run: %d/%d meters" % (done, total), file=sys.stderr, flush=True)
        report = run(store, a.period, a.group, issue=not a.draft, progress=progress)
    finally:
        store.close()
    print(json.dumps(report, indent=1))
    return 1 if report["failed"] else 0
