"""The prepaid statement endpoints (gateway/statements.py, docs/billing.md "Prepaid
statements"): one meter's month as JSON, CSV or PDF, the kept statements, and the run that
makes them for the fleet and then evaluates the alerts (reconciliation_drift). Reads are
open; the run needs the API key. `add_routes(api, store, alerting)` registers them."""
import re

from microdot import Response

from gateway import api_schemas as S
from gateway import statements
from gateway.http import ApiError, body_json
from gateway.limits import STR_MAX

_PERIOD = (("period", S.PERIOD, "calendar month YYYY-MM in the meter's local time", True),)
_RUN_BODY = {"type": "object", "required": ["period"], "additionalProperties": False,
             "properties": {"period": S.PERIOD,
                            "group": {"type": "string", "maxLength": STR_MAX}}}
_LIST = (("meter", S.ID, "only this meter"), ("period", S.PERIOD, "only this month YYYY-MM"),
         ("drift", {"type": "string", "enum": ["1"]}, "1: only those with a drift"))


def add_routes(api, store, alerting):
    r = api.route

    def make(meter_id, req):
        try:
            return statements.statement(store, meter_id, req.args.get("period"))
        except statements.StatementError as e:
            raise ApiError(e.status, str(e))

    @r("GET", "/api/meters/{meter_id}/statement", "A prepaid meter's monthly statement: "
       "top-ups, its tariff's debits by time-of-use bucket, the standing charge, and the "
       "reconciliation with what the meter debited", params=_PERIOD, tag="billing",
       returns=S.STATEMENT, errors=(409,))
    def get_statement(req, meter_id):
        return make(meter_id, req)

    @r("GET", "/api/meters/{meter_id}/statement.csv", "The statement as CSV", params=_PERIOD,
       tag="billing", returns=S.STR, media="text/csv", errors=(409,))
    def get_statement_csv(req, meter_id):
        from gateway import statement_render
        st = make(meter_id, req)
        return Response(statement_render.csv_text(st), headers={
            "Content-Type": "text/csv; charset=utf-8", "Content-Disposition":
            'attachment; filename="statement-%s-%s.csv"' % (meter_id, st["period"])})

    @r("GET", "/api/meters/{meter_id}/statement.pdf", "The statement as a PDF", params=_PERIOD,
       tag="billing", returns=S.BINARY, media="application/pdf", errors=(409,))
    def get_statement_pdf(req, meter_id):
        from gateway import statement_render   # fpdf2 is imported on first use
        st = make(meter_id, req)
        return Response(statement_render.pdf_bytes(st, statement_render.utility(store)), headers={
            "Content-Type": "application/pdf", "Content-Disposition":
            'inline; filename="statement-%s-%s.pdf"' % (meter_id, st["period"])})

    @r("GET", "/api/statements", "Kept statements (made by the statement run), newest month "
       "first", params=_LIST, tag="billing", returns=S.STATEMENTS)
    def list_statements(req):
        a = req.args
        for k, schema in (("meter", S.ID), ("period", S.PERIOD)):
            if k in a and not re.match(schema["pattern"], a[k]):
                raise ApiError(400, "parameter %r must match %s" % (k, schema["pattern"]))
        if a.get("drift", "1") != "1":
            raise ApiError(400, "parameter 'drift' must be 1")
        return {"statements": statements.stored(store, a.get("meter"), a.get("period"),
                                                "drift" in a)}

    @r("POST", "/api/billing/statement-runs", "Make and keep the month's statement of every "
       "prepaid meter (or a group), then evaluate the alerts: a drift beyond the tolerance "
       "raises reconciliation_drift", body=_RUN_BODY, auth=True, tag="billing",
       returns=S.STATEMENT_RUN)
    def statement_run(req):
        d = body_json(req)
        unknown = sorted(set(d) - set(_RUN_BODY["properties"]))
        if unknown:
            raise ApiError(400, "unknown field %r (known: period, group)" % unknown[0])
        if not isinstance(d.get("period"), str) or not re.match(S.PERIOD["pattern"],
                                                                  d["period"]):
            raise ApiError(400, "field 'period' must be a month YYYY-MM")
        if "group" in d and not (isinstance(d["group"], str) and len(d["group"]) <= STR_MAX):
            raise ApiError(400, "field 'group' must be a string of at most %d characters"
                           % STR_MAX)
        report = statements.run(store, d["period"], d.get("group"))
        alerting.evaluate()
        return report
