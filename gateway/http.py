"""HTTP plumbing for the API: one route table that registers microdot handlers and builds the
OpenAPI description (so the two cannot disagree), API-key checks, JSON errors, parameters."""
import datetime
import hmac
import json

from microdot import Microdot, Response



class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def error(status, message):
    return Response({"error": message, "status": status}, status_code=status)


class Api:
    """Microdot app plus its OpenAPI paths. `route` decorates a sync handler (microdot runs it
    in a worker thread, where the store's per-thread read connection lives)."""

    def __init__(self, title, version, api_keys=()):
        self.app = Microdot()
        self.keys = [k.encode() for k in api_keys if k]
        self.paths = {}
        self.title, self.version = title, version
        app = self.app

        @app.errorhandler(ApiError)
        def _api_error(req, exc):
            return error(exc.status, exc.message)

        @app.errorhandler(404)
        def _nf(req):
            return error(404, "no such endpoint")

        @app.errorhandler(405)
        def _na(req):
            return error(405, "method not allowed here")

        @app.errorhandler(413)
        def _big(req):
            return error(413, "request body too large")

        @app.errorhandler(Exception)
        def _crash(req, exc):
            return error(500, "internal error: %s" % type(exc).__name__)

    def route(self, method, path, summary, params=(), body=None, auth=False, tag="meters",
              raw=False):
        """path uses {name} (OpenAPI style); params: (name, type, description, required)."""
        mpath = path.replace("{", "<").replace("}", ">")

        def deco(f):
            def handler(req, **kw):
                if auth:
                    self.check_key(req)
                res = f(req, **kw)
                return res if isinstance(res, Response) else Response(res)
            handler.__name__ = f.__name__
            # raw: an async (streaming) handler, registered untouched (it has no auth)
            self.app.route(mpath, methods=[method])(f if raw else handler)
            op = {"summary": summary, "operationId": f.__name__, "tags": [tag],
                  "parameters": [_param(p, path) for p in _path_params(path)] +
                                [_param(p, None) for p in params],
                  "responses": {"200": {"description": "OK"},
                                "400": {"description": "bad input (JSON error message)"}}}
            if auth:
                op["security"] = [{"apiKey": []}]
                op["responses"]["401"] = {"description": "missing or wrong API key"}
            if body:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": body}}}
            if "{" in path:
                op["responses"]["404"] = {"description": "not found"}
            self.paths.setdefault(path, {})[method.lower()] = op
            return f
        return deco

    def check_key(self, req):
        key = req.headers.get("X-API-Key") or ""
        auth = req.headers.get("Authorization") or ""
        if not key and auth.startswith("Bearer "):
            key = auth[7:]
        if not self.keys:
            raise ApiError(403, "no API key is configured: write endpoints are disabled")
        if not key:
            raise ApiError(401, "this endpoint needs an API key (X-API-Key header)")
        if not any(hmac.compare_digest(key.encode(), k) for k in self.keys):
            raise ApiError(401, "wrong API key")

    def openapi(self):
        return {"openapi": "3.0.3", "info": {"title": self.title, "version": self.version},
                "paths": self.paths,
                "components": {"securitySchemes": {"apiKey": {
                    "type": "apiKey", "in": "header", "name": "X-API-Key"}}}}


def _path_params(path):
    return [(seg[1:-1], "string", "", True) for seg in path.split("/") if seg.startswith("{")]


def _param(p, path):
    name, typ, desc, required = (tuple(p) + ("", False))[:4]
    return {"name": name, "in": "path" if path else "query", "required": bool(required or path),
            "description": desc, "schema": {"type": typ}}


# -- parameters --------------------------------------------------------------------------
def body_json(req):
    if not req.body:
        raise ApiError(400, "a JSON body is required")
    try:
        data = json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "body is not valid JSON: %s" % e)
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def arg_time(req, name, default=None):
    """Epoch seconds, or ISO 8601 (a date, or a date-time; no zone means UTC)."""
    v = req.args.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        pass
    try:
        d = datetime.datetime.fromisoformat(v.replace(" ", "+"))
    except ValueError:
        raise ApiError(400, "%s: expected epoch seconds or ISO 8601, got %r" % (name, v))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp())


def arg_int(req, name, default, lo, hi):
    v = req.args.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise ApiError(400, "%s must be an integer, got %r" % (name, v))
    if not lo <= n <= hi:
        raise ApiError(400, "%s must be between %d and %d" % (name, lo, hi))
    return n


def field(data, name, typ, required=True, default=None, check=None, why=""):
    """A typed field of a JSON body (bool is not accepted as int)."""
    if name not in data:
        if required:
            raise ApiError(400, "missing field %r" % name)
        return default
    v = data[name]
    ok = isinstance(v, typ) and not (typ in (int, (int,)) and isinstance(v, bool))
    if not ok or (check is not None and not check(v)):
        raise ApiError(400, "field %r: %s (got %r)" % (name, why or "wrong type", v))
    return v
