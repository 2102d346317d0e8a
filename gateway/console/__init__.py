"""The operator console: server-rendered pages at / of the gateway's HTTP server
(docs/console.md). One module per view; web.py is the plumbing they share.

    mount(api, store, currency="INR", decimals=2, assets="build/console")

adds the console's routes to the API's microdot app and audits every write made with an API
key. Accounts: gateway/console/accounts.py, `python -m gateway user add NAME --role admin`."""
import hashlib

from microdot import Response

from gateway.console import (alerts, audit, audit_view, bills, customers, fleet, login, meter,
                             tariffs, vending)
from gateway.console.web import HERE, HEADERS, STATIC_TYPES, Console

# the built chart library (host_tools/consoleassets.py) next to the console's own assets
LIBRARY = ("uPlot.iife.min.js", "uPlot.min.css")


def mount(api, store, currency="", decimals=2, assets=None, secure_cookies=False):
    console = Console(api, store, currency, decimals, assets, secure_cookies)
    for view in (login, fleet, meter, vending, customers, tariffs, bills, alerts, audit_view):
        view.add(console)

    @api.app.route("/static/<name>")
    def console_static(req, name):
        folder = console.assets if name in LIBRARY else HERE / "static"
        path = folder / name if folder else None
        if path is None or "/" in name or name.startswith(".") or not path.is_file():
            return Response({"error": "no such asset", "status": 404}, status_code=404)
        ctype = STATIC_TYPES.get(path.suffix, "application/octet-stream")
        return Response(path.read_bytes(), headers=dict(HEADERS, **{
            "Content-Type": ctype, "Cache-Control": "max-age=3600"}))

    def key_write(req, operation, path, result):
        """An API-key write: the key's fingerprint, what was done and its answer."""
        if isinstance(result, Response) and result.status_code >= 400:
            return   # refused: nothing was written
        key = req.headers.get("X-API-Key") or (req.headers.get("Authorization") or "")[7:]
        body = result.body if isinstance(result, Response) else result
        if isinstance(body, bytes):
            body = body[:4096].decode("utf-8", "replace")
        audit.record(store, "api-key:" + hashlib.sha256(key.encode()).hexdigest()[:8],
                     operation, "/".join(str(v) for v in path.values()), None, body)
    api.on_write = key_write
    return console
