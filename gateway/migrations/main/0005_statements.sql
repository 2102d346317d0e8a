-- 0005: prepaid meters' monthly statements (gateway/statements.py, docs/billing.md
-- "Prepaid statements"). One per meter and month; made again, it replaces the last.
-- Money columns are integers in minor units, as the meter counts its credit.
CREATE TABLE statements(
  meter TEXT NOT NULL, period TEXT NOT NULL,   -- period: YYYY-MM of the meter's local time
  made INTEGER NOT NULL,                       -- UTC epoch seconds
  final INTEGER NOT NULL,                      -- 1: the month was over when it was made
  charged INTEGER NOT NULL,                    -- the tariff's debits + standing charge
  debited INTEGER,                             -- what the meter took (NULL: no records)
  drift INTEGER,                               -- charged - debited
  doc TEXT NOT NULL,                           -- the statement (JSON)
  PRIMARY KEY(meter, period));
-- the reconciliation alert reads each meter's newest final statement
CREATE INDEX statements_final ON statements(meter, final, period);
