"""Names and limits the storage and its callers share. The tables themselves are created and
changed by the SQL files of gateway/migrations/ (gateway/storage/migrate.py); datasette's
metadata describes the same tables.

Meters get a small integer `mid` so the big tables (raw, agg30) stay narrow WITHOUT ROWID
B-trees keyed by (mid, ...). Money is integer: `cost_um` columns hold micro-minor units, the
exact cost Wh x rate of prepay/tariff.py; shown in minor units rounded down (as tariff.price).
"""
# A dead letter keeps the first DEAD_KEEP bytes of its payload and the original length: a
# flood of oversized publishes must not grow the database by their full size.
DEAD_KEEP = 4096   # more than any valid JSON message (prepay JSON_MAX)

from prepay.settings import valid_id  # noqa: F401 (the one id check, for storage and the API)


def contains(text):
    """A LIKE pattern (with ESCAPE '\\') matching any value containing text, lower-cased:
    % and _ typed in a search are literal characters."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
