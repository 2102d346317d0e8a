"""A tariff as form fields, for operators who would rather not write JSON: rates one a line
(`peak = 9.5`), the default rate, windows one a line (`peak weekday 18:00-22:00`) and the
standing charge. The fields replace those keys of the stored document (its other keys, such
as holidays, are kept); the API's PUT validates the result, as it does the JSON editor's."""

LINE_HELP = {"rates": "one a line: NAME = RATE (minor units per kWh, e.g. peak = 9.5)",
             "windows": "one a line: RATE [DAYS] [HH:MM-HH:MM], e.g. peak weekday 18:00-22:00"}


class FormError(ValueError):
    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


def fields(doc):
    """The form's text fields of a tariff document."""
    windows = []
    for w in doc.get("windows", ()):
        days = ",".join(w.get("days", ())) if w.get("days") else ""
        span = "%s-%s" % (w["from"], w["to"]) if "from" in w or "to" in w else ""
        windows.append(" ".join(x for x in (str(w.get("rate", "")), days, span) if x))
    return {"rates": "\n".join("%s = %s" % kv for kv in doc.get("rates", {}).items()),
            "default": str(doc.get("default", "")), "windows": "\n".join(windows),
            "standing_per_day": str(doc.get("standing_per_day", ""))}


def document(form, base):
    """base (the stored document, or {}) with the form's keys replaced; FormError lists the
    lines that cannot be read (the API checks the values themselves)."""
    doc, errors = dict(base), []
    rates = {}
    for n, line in enumerate((form.get("rates") or "").splitlines(), 1):
        if not line.strip():
            continue
        name, eq, rate = line.partition("=")
        if not eq or not name.strip() or not rate.strip():
            errors.append("rates line %d: %s, got %r" % (n, LINE_HELP["rates"], line))
            continue
        rates[name.strip()] = rate.strip()
    doc["rates"] = rates
    windows = []
    for n, line in enumerate((form.get("windows") or "").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        w = {"rate": parts[0]}
        for p in parts[1:]:
            if "-" in p and ":" in p:
                w["from"], _, w["to"] = p.partition("-")
            elif "days" not in w:
                w["days"] = [d for d in p.split(",") if d]
            else:
                errors.append("windows line %d: %s, got %r" % (n, LINE_HELP["windows"], line))
        windows.append(w)
    doc["windows"] = windows
    for key in ("default", "standing_per_day"):
        v = (form.get(key) or "").strip()
        if v:
            doc[key] = v
        else:
            doc.pop(key, None)
    if errors:
        raise FormError(errors)
    return doc
