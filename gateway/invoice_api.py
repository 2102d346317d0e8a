"""The invoice endpoints (gateway/invoices.py, docs/billing.md "Invoices"): drafts, issue,
payments, void, credit notes, listing, PDF and CSV. Reads are open; writes need the API key.
`add_routes(api, store)` registers them on the route table make_api builds."""
import re

from microdot import Response

from gateway import api_schemas as S
from gateway import billrun, invoices
from gateway.http import ApiError, body_json
from gateway.limits import STR_MAX

_DRAFT_BODY = {"type": "object", "required": ["meter", "period"], "additionalProperties": False,
               "properties": {"meter": S.ID, "period": S.BILL_PERIOD,
                              "plan": dict(S.ID, description="bill with this plan instead")}}
_PAY_BODY = {"type": "object", "required": ["amount", "date", "reference"],
             "additionalProperties": False, "properties": {
                 "amount": {"type": "integer", "minimum": 1, "maximum": 10**15,
                            "description": "minor units (10^-decimals of the currency)"},
                 "date": S.DATE, "reference": {"type": "string", "minLength": 1,
                                               "maxLength": invoices.TEXT_MAX}}}
_REASON = {"type": "string", "minLength": 1, "maxLength": invoices.TEXT_MAX}
_VOID_BODY = {"type": "object", "required": ["reason"], "additionalProperties": False,
              "properties": {"reason": _REASON}}
_CREDIT_BODY = {"type": "object", "required": ["reason"], "additionalProperties": False,
                "properties": {"reason": _REASON, "lines": {
                    # bounded so that any valid body fits the 16 KB limit
                    "type": "array", "minItems": 1, "maxItems": 1000, "items": {
                        "type": "integer", "minimum": 1, "maximum": 9999},
                    "description": "line numbers to reverse (default: every line)"}}}
_SETTINGS_BODY = {"type": "object", "additionalProperties": False, "properties": {
    k: dict(invoices.KINDS[kind], description=help)
    for k, (_, kind, help) in invoices.SETTINGS.items()}}
_RUN_BODY = {"type": "object", "required": ["period"], "additionalProperties": False,
             "properties": {"period": S.BILL_PERIOD,
                            "group": {"type": "string", "maxLength": STR_MAX},
                            "draft": {"type": "boolean", "description": "leave drafts"}}}
_LIST = (("meter", S.ID, "only this meter"), ("period", S.BILL_PERIOD, "only this period"),
         ("status", S.INVOICE_STATUS, "only invoices in this status"))


def _body(req, schema):
    """The JSON body with only the fields the schema names (the rest is a 400)."""
    d = body_json(req)
    unknown = sorted(set(d) - set(schema["properties"]))
    if unknown:
        raise ApiError(400, "unknown field %r (known: %s)" % (unknown[0], ", ".join(
            schema["properties"])))
    for k in schema.get("required", ()):
        if k not in d:
            raise ApiError(400, "missing field %r" % k)
    return d


def _call(fn, *a):
    try:
        return fn(*a)
    except invoices.InvoiceError as e:
        raise ApiError(e.status, str(e))


def add_routes(api, store):
    r = api.route
    api.path_schemas.update(ref=S.INVOICE_REF)

    @r("GET", "/api/billing/invoice-settings", "Invoice settings: the utility's name and "
       "address, number series, due days, late-payment charge", tag="invoices",
       returns=S.INVOICE_SETTINGS)
    def get_invoice_settings(req):
        return invoices.settings(store)

    @r("PUT", "/api/billing/invoice-settings", "Change some invoice settings (the others keep "
       "theirs)", body=_SETTINGS_BODY, auth=True, tag="invoices", returns=S.INVOICE_SETTINGS)
    def put_invoice_settings(req):
        return _call(invoices.put_settings, store, _body(req, _SETTINGS_BODY))

    @r("POST", "/api/billing/runs", "Fleet billing run: invoice every meter (or a group) for "
       "a month; meters invoiced already are left alone, those that cannot be billed are "
       "listed with the reason", body=_RUN_BODY, auth=True, tag="invoices",
       returns=S.BILL_RUN)
    def bill_run(req):
        d = _body(req, _RUN_BODY)
        if not isinstance(d["period"], str) or not _matches(S.BILL_PERIOD, d["period"]):
            raise ApiError(400, "field 'period' must be a month YYYY-MM or read dates "
                           "YYYY-MM-DD..YYYY-MM-DD")
        if "group" in d and not (isinstance(d["group"], str) and len(d["group"]) <= STR_MAX):
            raise ApiError(400, "field 'group' must be a string of at most %d characters"
                           % STR_MAX)
        if not isinstance(d.get("draft", False), bool):
            raise ApiError(400, "field 'draft' must be true or false")
        return billrun.run(store, d["period"], d.get("group"), issue=not d.get("draft"))

    @r("GET", "/api/invoices", "Invoices and credit notes, newest first", params=_LIST,
       tag="invoices", returns=S.INVOICES)
    def list_invoices(req):
        a = req.args
        for k, schema in (("meter", S.ID), ("period", S.BILL_PERIOD)):
            if k in a and not _matches(schema, a[k]):
                raise ApiError(400, "parameter %r must match %s" % (k, schema["pattern"]))
        if "status" in a and a["status"] not in S.INVOICE_STATUS["enum"]:
            raise ApiError(400, "parameter 'status' must be one of %s"
                           % ", ".join(S.INVOICE_STATUS["enum"]))
        return {"invoices": invoices.listing(store, a.get("meter"), a.get("period"),
                                             a.get("status"))}

    @r("POST", "/api/invoices", "Make (or remake) the draft invoice of a meter's month from "
       "its bill, with arrears and a late-payment charge carried", body=_DRAFT_BODY, auth=True,
       tag="invoices", returns=S.INVOICE, ok=(201,), errors=(404, 409))
    def create_draft(req):
        d = _body(req, _DRAFT_BODY)
        for k in ("meter", "period", "plan"):
            if k in d and not isinstance(d[k], str):
                raise ApiError(400, "field %r must be a string" % k)
        return Response(_call(invoices.create_draft, store, d["meter"], d["period"],
                              d.get("plan")), status_code=201)

    # before {ref}: microdot's {ref} would take "INV-000001.pdf" whole
    @r("GET", "/api/invoices/{ref}.pdf", "The invoice as a PDF", tag="invoices",
       returns=S.BINARY, media="application/pdf")
    def invoice_pdf(req, ref):
        return _file(store, ref, "pdf_bytes", "application/pdf", "inline", "pdf")

    @r("GET", "/api/invoices/{ref}.csv", "The invoice as CSV: one row per line, then totals",
       tag="invoices", returns=S.STR, media="text/csv")
    def invoice_csv(req, ref):
        return _file(store, ref, "csv_text", "text/csv; charset=utf-8", "attachment", "csv")

    @r("GET", "/api/invoices/{ref}", "One invoice or credit note: lines, payments, status",
       tag="invoices", returns=S.INVOICE)
    def get_invoice(req, ref):
        return _call(invoices.get, store, ref)

    @r("POST", "/api/invoices/{ref}/issue", "Issue a draft: the next number of the series, "
       "a due date; its lines never change again", auth=True, tag="invoices",
       returns=S.INVOICE, errors=(409,))
    def issue(req, ref):
        return _call(invoices.issue, store, ref)

    @r("POST", "/api/invoices/{ref}/payments", "Record a payment against an issued invoice",
       body=_PAY_BODY, auth=True, tag="invoices", returns=S.INVOICE, ok=(201,), errors=(409,))
    def pay(req, ref):
        d = _body(req, _PAY_BODY)
        return Response(_call(invoices.pay, store, ref, d["amount"], d["date"],
                              d["reference"]), status_code=201)

    @r("POST", "/api/invoices/{ref}/void", "Void a draft, or an issued invoice with no "
       "payment or credit note (its number stays used)", body=_VOID_BODY, auth=True,
       tag="invoices", returns=S.INVOICE, errors=(409,))
    def void(req, ref):
        return _call(invoices.void, store, ref, _body(req, _VOID_BODY)["reason"])

    @r("POST", "/api/invoices/{ref}/credit-notes", "Correct an issued invoice: a credit note "
       "reversing some or all of its lines", body=_CREDIT_BODY, auth=True, tag="invoices",
       returns=S.INVOICE, ok=(201,), errors=(409,))
    def credit(req, ref):
        d = _body(req, _CREDIT_BODY)
        return Response(_call(invoices.credit_note, store, ref, d["reason"], d.get("lines")),
                        status_code=201)


def _file(store, ref, render, ctype, disposition, ext):
    """The invoice rendered by invoice_render.<render>, named for saving as its number."""
    inv = _call(invoices.get, store, ref)
    # imported on first use: fpdf2 (with Pillow, fontTools) takes 0.24 s of the gateway's
    # 0.40 s import time, and most gateways rarely render
    from gateway import invoice_render
    return Response(getattr(invoice_render, render)(inv), headers={"Content-Type": ctype, "Content-Disposition":
                                          '%s; filename="%s.%s"' % (disposition, inv["ref"], ext)})


def _matches(schema, v):
    return re.match(schema["pattern"], v) is not None
