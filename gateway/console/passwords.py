"""Operator passwords: hashlib.scrypt (memory-hard), stored as scrypt$N$r$p$salt$hash.

N=2^14, r=8 costs 16 MB and about 50 ms a check on this kind of machine: cheap for a login,
dear for someone guessing offline from a copied database."""
import hashlib
import hmac
import os

N, R, P = 1 << 14, 8, 1
MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 10
MAX_LENGTH = 1024   # scrypt reads all of it: no megabyte passwords from a form


class PasswordError(ValueError):
    pass


def check_new(password):
    """Refuse a password too short or too long to be one, with the reason."""
    if len(password) < MIN_LENGTH:
        raise PasswordError("a password needs at least %d characters" % MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        raise PasswordError("a password has at most %d characters" % MAX_LENGTH)
    return password


def _kdf(password, salt, n, r, p):
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAXMEM, dklen=32)


def hash_password(password):
    salt = os.urandom(16)
    return "scrypt$%d$%d$%d$%s$%s" % (N, R, P, salt.hex(), _kdf(password, salt, N, R, P).hex())


# verified against when the name is unknown, so a wrong name costs as long as a wrong password
_DUMMY = "scrypt$%d$%d$%d$%s$%s" % (N, R, P, "00" * 16, "00" * 32)


def verify(password, stored=None):
    """True when password matches stored (None: an unknown name, checked against a dummy)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        kind, n, r, p, salt, want = (stored or _DUMMY).split("$")
        got = _kdf(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:   # a malformed stored hash logs no one in
        return False
    return kind == "scrypt" and stored is not None and hmac.compare_digest(got.hex(), want)
