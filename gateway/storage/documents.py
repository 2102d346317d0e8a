"""Named JSON documents kept whole in one table each: tariffs (`tariffs`, validated by
prepay/tariff.py) and billing plans (`billing_plans`, validated by gateway/billing.py).

Both tables are (name PRIMARY KEY, spec JSON, updated epoch s). Putting a document replaces
it; the validator raises a ValueError listing every problem before anything is written.
"""
import json
import time

from gateway import schema


class Documents:
    def __init__(self, database, table, label, validate, field="spec"):
        """label names a document in errors ("tariff"); field is the key its decoded
        document has in the rows get() returns."""
        self.database = database
        self.table = table
        self.label = label
        self.validate = validate
        self.field = field

    def put(self, name, doc):
        """Create or replace one -> its row."""
        if not schema.valid_id(name):
            raise ValueError("%s name must match [a-z0-9-]{1,32}: %r" % (self.label, name))
        self.validate(doc)
        with self.database.lock:
            self.database.writer.execute(
                "INSERT INTO %s(name, spec, updated) VALUES (?,?,?) ON CONFLICT(name)"
                " DO UPDATE SET spec=excluded.spec, updated=excluded.updated" % self.table,
                (name, json.dumps(doc, sort_keys=True), int(time.time())))
        return self.get(name)[0]

    def get(self, name=None):
        """Rows {name, <field>: document, updated}, by name; one (or none) when named."""
        rows = self.database.query("SELECT name, spec, updated FROM %s%s ORDER BY name"
                                   % (self.table, " WHERE name=?" if name else ""),
                                   (name,) if name else ())
        for r in rows:
            r[self.field] = json.loads(r.pop("spec"))
        return rows
