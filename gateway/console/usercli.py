"""python -m gateway user: the console's operator accounts.

    python -m gateway user add NAME --role admin|vendor|viewer --db gateway.db
    python -m gateway user list --db gateway.db
    python -m gateway user disable NAME --db gateway.db

`add` prompts for the password twice (never an argument: `ps` shows arguments to every
user); with stdin not a terminal it reads one line, for scripts (host_tools/demo.py)."""
import argparse
import getpass
import sys

from gateway.console import accounts, passwords


def read_password(stdin=sys.stdin):
    if not stdin.isatty():
        return stdin.readline().rstrip("\n")
    pw = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != pw:
        raise accounts.AccountError("the two passwords differ")
    return pw


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m gateway user", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="create an operator, or set one's role and password")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=accounts.ROLES)
    sub.add_parser("list", help="list the operators")
    dis = sub.add_parser("disable", help="disable an operator and end their sessions")
    dis.add_argument("name")
    for p in (add, sub.choices["list"], dis):
        p.add_argument("--db", required=True, help="the gateway's database file")
    a = ap.parse_args(argv)
    from gateway.store import Store
    store = Store(a.db)
    try:
        if a.cmd == "add":
            accounts.check_name(a.name)
            accounts.add(store, a.name, a.role, read_password())
            print("operator %s (%s) saved" % (a.name, a.role))
        elif a.cmd == "list":
            for o in accounts.operators(store):
                print("%-32s %-7s%s" % (o["name"], o["role"], " disabled" if o["disabled"] else ""))
        elif not accounts.disable(store, a.name):
            print("no operator %r" % a.name, file=sys.stderr)
            return 1
    except (accounts.AccountError, passwords.PasswordError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0
