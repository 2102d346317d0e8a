"""Customers: account number, name, address and phone (table `customers`, migration 0004).
A meter names its customer by its `customer` attribute (POST /api/meters), so one customer
may have several meters. CSV in and out with the columns of FIELDS."""
import csv
import io
import re
import time

from gateway import schema

FIELDS = ("account", "name", "address", "phone")
MAX = {"account": 32, "name": 200, "address": 400, "phone": 32}
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,31}\Z")
_PHONE = re.compile(r"\+?[0-9 ()-]{0,32}\Z")
IMPORT_MAX = 10000   # rows in one import


class CustomerError(ValueError):
    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


def check(row, where=""):
    """A customer dict with every field a string, or the list of what is wrong."""
    errors, out = [], {}
    for k in FIELDS:
        v = row.get(k)
        v = "" if v is None else str(v).strip()
        if len(v) > MAX[k]:
            errors.append("%s%s: at most %d characters" % (where, k, MAX[k]))
        out[k] = v
    if not _ACCOUNT.match(out["account"]):
        errors.append("%saccount: 1-32 letters, digits, '.', '/' or '-', got %r"
                      % (where, out["account"]))
    if not out["name"]:
        errors.append("%sname: required" % where)
    if not _PHONE.match(out["phone"]):
        errors.append("%sphone: digits, spaces, ()- and a leading +, got %r" % (where, out["phone"]))
    return out, errors


def put(store, rows, now=None):
    """Insert or update customers, all or none: CustomerError lists every problem."""
    clean, errors = [], []
    for i, row in enumerate(rows):
        c, e = check(row, "row %d: " % (i + 1) if len(rows) > 1 else "")
        clean.append(c)
        errors += e
    if errors:
        raise CustomerError(errors)
    now = int(now or time.time())
    with store.write() as cur:
        for c in clean:
            cur.execute("INSERT INTO customers(account, name, address, phone, updated)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(account) DO UPDATE SET"
                        " name=excluded.name, address=excluded.address, phone=excluded.phone,"
                        " updated=excluded.updated",
                        (c["account"], c["name"], c["address"], c["phone"], now))
    return clean


def get(store, account):
    rows = store.query("SELECT account, name, address, phone, updated FROM customers"
                       " WHERE account=?", (account,))
    return rows[0] if rows else None


def search(store, q="", limit=100, offset=0):
    """Customers whose account, name, address or phone contains q (case-insensitive)."""
    sql = "SELECT account, name, address, phone, updated FROM customers"
    args = ()
    if q:
        like = schema.contains(q)
        sql += " WHERE " + " OR ".join("lower(%s) LIKE ? ESCAPE '\\'" % k for k in FIELDS)
        args = (like,) * len(FIELDS)
    return store.query(sql + " ORDER BY account LIMIT ? OFFSET ?", args + (limit, offset))


def parse_csv(text):
    """CSV with a header naming at least account and name -> rows; CustomerError if not."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [k for k in ("account", "name") if k not in (reader.fieldnames or ())]
    if missing:
        raise CustomerError(["the header must name %s (columns: %s)"
                             % (" and ".join(missing), ", ".join(FIELDS))])
    rows = []
    for row in reader:
        if len(rows) >= IMPORT_MAX:
            raise CustomerError(["at most %d rows in one import" % IMPORT_MAX])
        rows.append(row)
    if not rows:
        raise CustomerError(["no rows under the header"])
    return rows
