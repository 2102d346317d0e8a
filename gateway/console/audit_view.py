"""The audit log, for admins: filtered by operator or action, paginated, exportable as CSV."""
from gateway.console import audit
from gateway.console.web import PER_PAGE, csv_response

COLUMNS = (("id", "id"), ("t", "time (epoch)"), ("actor", "who"), ("action", "what"),
           ("target", "target"), ("before", "before"), ("after", "after"))


def add(console):
    @console.page("/audit", perm="audit")
    def audit_log(ctx):
        actor, action = ctx.arg("actor"), ctx.arg("action")
        if ctx.arg("format") == "csv":
            return csv_response("audit.csv", COLUMNS,
                                audit.entries(console.store, actor, action, limit=10 ** 9))
        page = ctx.page_number()
        rows = audit.entries(console.store, actor, action, PER_PAGE + 1, (page - 1) * PER_PAGE)
        return ctx.render("audit.html", rows=rows[:PER_PAGE], more=len(rows) > PER_PAGE,
                          page=page, actor=actor, action=action)
