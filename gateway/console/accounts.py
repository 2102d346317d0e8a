"""Operator accounts, their sessions and the login lockout (tables of migration 0004).

Roles: admin (everything), vendor (vend; read meters and customers), viewer (read only).
A session is a random cookie whose sha256 alone is stored, with its own CSRF token.
Login lockout: after LOCK_AFTER wrong passwords for a name, that name is locked for
LOCK_BASE_S, doubling with each further failure up to LOCK_MAX_S; a right password resets it.
"""
import hashlib
import secrets
import time

from gateway import schema
from gateway.console import passwords

ROLES = ("admin", "vendor", "viewer")
# what each role may do; a view or action names the permission it needs
CAN = {"admin": {"read", "vend", "write", "audit"}, "vendor": {"read", "vend"},
       "viewer": {"read"}}
SESSION_S = 12 * 3600
LOCK_AFTER = 5
LOCK_BASE_S = 30
LOCK_MAX_S = 3600


class AccountError(ValueError):
    pass


class Locked(Exception):
    def __init__(self, until):
        super().__init__("too many wrong passwords: try again after %d s" % max(1, until - int(time.time())))
        self.until = until


def check_name(name):
    if not schema.valid_id(name):
        raise AccountError("an operator name is 1-32 of a-z, 0-9 and -")
    return name


def add(store, name, role, password, now=None):
    """Create an operator, or set an existing one's role and password."""
    check_name(name)
    if role not in ROLES:
        raise AccountError("role must be one of %s" % ", ".join(ROLES))
    pw = passwords.hash_password(passwords.check_new(password))
    with store.write() as cur:
        cur.execute("INSERT INTO operators(name, role, password, created) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET role=excluded.role,"
                    " password=excluded.password, disabled=0",
                    (name, role, pw, int(now or time.time())))
        cur.execute("DELETE FROM operator_sessions WHERE operator=?", (name,))
    return {"name": name, "role": role}


def disable(store, name):
    with store.write() as cur:
        cur.execute("UPDATE operators SET disabled=1 WHERE name=?", (name,))
        cur.execute("DELETE FROM operator_sessions WHERE operator=?", (name,))
        return cur.rowcount > 0


def operators(store):
    return store.query("SELECT name, role, created, disabled FROM operators ORDER BY name")


def login(store, name, password, now=None):
    """A new session {token, csrf, operator, role} for a right password; None for a wrong one;
    Locked while the name is locked (the password is then not even checked)."""
    now = int(now or time.time())
    key = name[:64]   # the lockout's row: any name typed, bounded
    lock = store.query("SELECT failures, locked_until FROM login_failures WHERE name=?", (key,))
    if lock and lock[0]["locked_until"] > now:
        raise Locked(lock[0]["locked_until"])
    row = store.query("SELECT role, password FROM operators WHERE name=? AND disabled=0",
                      (name,)) if schema.valid_id(name) else []
    if not passwords.verify(password, row[0]["password"] if row else None):
        failures = (lock[0]["failures"] if lock else 0) + 1
        until = now + min(LOCK_MAX_S, LOCK_BASE_S << (failures - LOCK_AFTER)) \
            if failures >= LOCK_AFTER else 0
        with store.write() as cur:
            cur.execute("INSERT INTO login_failures(name, failures, locked_until) VALUES (?, ?, ?)"
                        " ON CONFLICT(name) DO UPDATE SET failures=excluded.failures,"
                        " locked_until=excluded.locked_until", (key, failures, until))
        return None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    with store.write() as cur:
        cur.execute("DELETE FROM login_failures WHERE name=?", (key,))
        cur.execute("DELETE FROM operator_sessions WHERE expires<=?", (now,))
        cur.execute("INSERT INTO operator_sessions(token_hash, operator, csrf, created, expires)"
                    " VALUES (?, ?, ?, ?, ?)", (_digest(token), name, csrf, now, now + SESSION_S))
    return {"token": token, "csrf": csrf, "operator": name, "role": row[0]["role"]}


def session(store, token, now=None):
    """{operator, role, csrf} of a live session cookie, or None."""
    if not token or len(token) > 100:
        return None
    rows = store.query("SELECT s.operator, s.csrf, o.role FROM operator_sessions s JOIN operators o"
                       " ON o.name=s.operator WHERE s.token_hash=? AND s.expires>? AND o.disabled=0",
                       (_digest(token), int(now or time.time())))
    return dict(rows[0]) if rows else None


def logout(store, token):
    with store.write() as cur:
        cur.execute("DELETE FROM operator_sessions WHERE token_hash=?", (_digest(token or ""),))


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()
