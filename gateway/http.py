"""HTTP plumbing for the API: one route table that registers microdot handlers and builds the
OpenAPI description (so the two cannot disagree), API-key checks, JSON errors, parameters."""
import datetime
import decimal
import hmac
import json
import math
import re

from microdot import Microdot, Response

from gateway.limits import EPOCH_MAX



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
        self.ops = {}    # "METHOD /path" -> the handler, for in-process callers (gateway/console)
        self.on_write = None   # on_write(req, operation, path kwargs, result): audit of key writes
        self.path_schemas = {}   # path parameter name -> its schema (default: a string)
        self.title, self.version = title, version
        app = self.app

        @app.errorhandler(ApiError)
        def _api_error(req, exc):
            return error(exc.status, exc.message)

        @app.errorhandler(400)
        def _unparsed(req):   # microdot could not parse the request line or headers
            return error(400, "bad request: it could not be parsed")

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
              raw=False, returns=None, ok=(200,), errors=(), media="application/json"):
        """path uses {name} (OpenAPI style); params: (name, type or schema, description,
        required, "query" or "header"); returns: the schema of a success response (`ok` statuses, `media` type);
        errors: statuses beyond those the route's shape implies (400, 401/403 with auth, 404
        with a path parameter, 413 with a body)."""
        mpath = "/".join(_micro_segment(seg) for seg in path.split("/"))
        suffixed = {m.group(1): len(m.group(2)) + 1 for m in map(_SUFFIXED.match,
                                                                  path.split("/")) if m}

        known = {p[0] for p in params}

        def deco(f):
            def handler(req, **kw):
                try:
                    if auth:
                        self.check_key(req)
                    for k in req.args:   # a misspelt parameter is an error, not a default
                        if k not in known:
                            raise ApiError(400, "unknown parameter %r (this endpoint takes: %s)"
                                           % (k, ", ".join(sorted(known)) or "none"))
                        if len(req.args.getlist(k)) > 1:
                            raise ApiError(400, "parameter %r given more than once" % k)
                    for k, n in suffixed.items():   # {ref}.pdf: the handler gets ref
                        kw[k] = kw[k][:-n]
                    res = f(req, **kw)
                except ApiError as e:   # answered here: microdot would log a traceback of it
                    return error(e.status, e.message)
                if method != "GET" and self.on_write is not None:
                    self.on_write(req, f.__name__, kw, res)
                return res if isinstance(res, Response) else Response(res)
            handler.__name__ = f.__name__
            self.ops[method + " " + path] = f
            # raw: an async (streaming) handler, registered untouched (it has no auth)
            self.app.route(mpath, methods=[method])(f if raw else handler)
            op = {"summary": summary, "operationId": f.__name__, "tags": [tag],
                  "parameters": [_param(p, path, self.path_schemas) for p in _path_params(path)]
                                + [_param(p, None) for p in params],
                  "responses": {str(s): {"description": "OK", "content": {
                      media: {"schema": returns or {}}}} for s in ok}}
            codes = {400} | set(errors)
            if auth:
                op["security"] = [{"apiKey": []}]
                codes |= {401, 403}
            if body:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": body}}}
                codes.add(413)
            if "{" in path:
                codes.add(404)
            for s in sorted(codes):
                op["responses"][str(s)] = {"description": ERRORS[s], "content": {
                    "application/json": {"schema": ERROR}}}
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
        return {"openapi": "3.1.0", "info": {"title": self.title, "version": self.version},
                "paths": self.paths,
                "components": {"securitySchemes": {"apiKey": {
                    "type": "apiKey", "in": "header", "name": "X-API-Key"}}}}


ERROR = {"type": "object", "required": ["error", "status"], "properties": {
    "error": {"type": "string"}, "status": {"type": "integer"}}}
ERRORS = {400: "bad input: the message names the field", 401: "missing or wrong API key",
          403: "no API key is configured: write endpoints are disabled", 404: "not found",
          409: "conflicts with the stored state", 413: "request body over 16 KB",
          503: "degraded"}


_SUFFIXED = re.compile(r"\{(\w+)\}\.(\w+)\Z")   # a path segment like {ref}.pdf


def _micro_segment(seg):
    """An OpenAPI path segment as microdot's: {name} -> <name>; {name}.ext -> a regex segment
    (microdot's own segments are whole: it has no <name>.ext)."""
    m = _SUFFIXED.match(seg)
    if m:
        return r"<re:[^\x2f]+\.%s:%s>" % (m.group(2), m.group(1))   # \x2f: microdot splits on /
    return seg.replace("{", "<").replace("}", ">")


def _path_params(path):
    return [(seg[1:seg.index("}")], "string", "", True) for seg in path.split("/")
            if seg.startswith("{")]


def _param(p, path, path_schemas=None):
    """p: (name, type or schema, description[, required[, "query" | "header"]])."""
    name, typ, desc, required, where = (tuple(p) + ("", False, "query")[len(p) - 2:])[:5]
    schema = typ if isinstance(typ, dict) else {"type": typ}
    if path and path_schemas and name in path_schemas:
        schema = path_schemas[name]
    return {"name": name, "in": "path" if path else where, "required": bool(required or path),
            "description": desc, "schema": schema}


# -- parameters --------------------------------------------------------------------------
_INT = re.compile(r"-?[0-9]+")   # not int()'s "+1", " 1 " or "1_0"
JSON_DEPTH = 16   # no document the API takes nests deeper; 5,000 levels was a RecursionError


def _no_constant(name):
    raise ValueError("%s is not JSON" % name)


def _number(s):
    """A JSON number with a fraction or exponent: a whole one is an integer (JSON Schema's
    rule: 5.0 is an integer), anything else a finite float."""
    d = decimal.Decimal(s)
    if d == d.to_integral_value() and d.adjusted() < 30:   # no 10^999999 ints
        return int(d)
    f = float(s)
    if not math.isfinite(f):
        raise ValueError("%s is out of range" % s)
    return f


def _depth(v):
    """How deeply arrays and objects nest in v (iterative: no recursion to exhaust)."""
    deepest, stack = 0, [(v, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d)
            if d <= JSON_DEPTH:
                stack.extend((x, d + 1) for x in v)
    return deepest


def body_json(req):
    """The body as a JSON object: strict JSON (no NaN or Infinity), nested at most JSON_DEPTH."""
    if not req.body:
        raise ApiError(400, "a JSON body is required")
    try:
        data = json.loads(req.body, parse_constant=_no_constant, parse_float=_number)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "body is not valid JSON: %s" % e)
    except RecursionError:
        raise ApiError(400, "body nests deeper than %d levels" % JSON_DEPTH)
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    if _depth(data) > JSON_DEPTH:
        raise ApiError(400, "body nests deeper than %d levels" % JSON_DEPTH)
    return data


def arg_time(req, name, default=None):
    """Epoch seconds, or ISO 8601 (a date, or a date-time; no zone means UTC), from 1970
    to 3000 (limits.EPOCH_MAX: bucket arithmetic in local time stays within datetime's)."""
    v = req.args.get(name)
    if v is None:
        return default
    if _INT.fullmatch(v):
        t = int(v) if len(v) < 20 else -1   # out of range either way; int() caps digits
    else:
        try:
            d = datetime.datetime.fromisoformat(v.replace(" ", "+"))
        except ValueError:
            raise ApiError(400, "%s: expected epoch seconds or ISO 8601, got %r" % (name, v))
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.timezone.utc)
        try:
            t = int(d.timestamp())
        except (OverflowError, ValueError):   # a date next to year 1 or 9999 in another zone
            t = -1
    if not 0 <= t <= EPOCH_MAX:
        raise ApiError(400, "%s: must be a time from 1970 to 3000 (epoch 0..%d), got %r"
                       % (name, EPOCH_MAX, v))
    return t


def row_id(v):
    """A row id from a path (api_schemas.ROW_ID): anything else names no row, 404."""
    if not re.fullmatch(r"[1-9][0-9]{0,11}", v):
        raise ApiError(404, "no such id %r" % v)
    return int(v)


def arg_int(req, name, default, lo, hi):
    v = req.args.get(name)
    if v is None:
        return default
    if not _INT.fullmatch(v):
        raise ApiError(400, "%s must be an integer, got %r" % (name, v))
    n = int(v) if len(v) < 20 else hi + 1
    if not lo <= n <= hi:
        raise ApiError(400, "%s must be between %d and %d" % (name, lo, hi))
    return n


def field(data, name, typ, required=True, default=None, check=None, why="", echo=True):
    """A typed field of a JSON body (bool is not accepted as int). echo=False keeps a bad
    value out of the error (a mistyped secret is still nearly the secret)."""
    if name not in data:
        if required:
            raise ApiError(400, "missing field %r" % name)
        return default
    v = data[name]
    ok = isinstance(v, typ) and not (typ in (int, (int,)) and isinstance(v, bool))
    if not ok or (check is not None and not check(v)):
        raise ApiError(400, "field %r: %s%s" % (name, why or "wrong type",
                                                 " (got %r)" % (v,) if echo else ""))
    return v
