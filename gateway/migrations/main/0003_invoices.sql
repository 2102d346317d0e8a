-- 0002: invoices a utility can send (gateway/invoices.py, docs/billing.md "Invoices").
-- Money columns are integers in units of 10^-decimals of the currency (paise, cents).
CREATE TABLE invoice_counters(          -- the last number given in each series (gap-free)
  series TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE invoices(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
  series TEXT, seq INTEGER,             -- NULL while a draft; set when issued
  number TEXT UNIQUE,                   -- series-seq, e.g. INV-000001
  meter TEXT NOT NULL, period TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('draft', 'issued', 'void')),
  currency TEXT NOT NULL DEFAULT '', decimals INTEGER NOT NULL,
  total INTEGER NOT NULL, tax INTEGER NOT NULL,
  created INTEGER NOT NULL, issued INTEGER, due TEXT, voided INTEGER, void_reason TEXT,
  original INTEGER REFERENCES invoices(id),   -- a credit note's invoice
  header TEXT NOT NULL,                 -- JSON: customer, plan, period bounds, readings, utility
  UNIQUE(series, seq));
-- one live invoice per meter and period: a fleet run never bills a meter twice
CREATE UNIQUE INDEX invoices_one_per_period ON invoices(meter, period)
  WHERE kind = 'invoice' AND state != 'void';
CREATE INDEX invoices_meter ON invoices(meter, period);
CREATE TABLE invoice_lines(             -- stored as issued, never recomputed
  invoice INTEGER NOT NULL REFERENCES invoices(id), n INTEGER NOT NULL,
  kind TEXT NOT NULL, text TEXT NOT NULL,
  base TEXT, rate TEXT, quantity TEXT, amount INTEGER NOT NULL,
  credits INTEGER,                      -- a credit note line: the original line n it reverses
  PRIMARY KEY(invoice, n)) WITHOUT ROWID;
CREATE TABLE payments(
  id INTEGER PRIMARY KEY, invoice INTEGER NOT NULL REFERENCES invoices(id),
  amount INTEGER NOT NULL CHECK (amount > 0), date TEXT NOT NULL, reference TEXT NOT NULL,
  created INTEGER NOT NULL);
CREATE INDEX payments_invoice ON payments(invoice);
CREATE TABLE invoice_settings(          -- utility name, address, due days, late fee (invoices.SETTINGS)
  name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- An issued invoice is immutable: its lines and amounts can no longer change (a correction
-- is a credit note). gateway/invoices.py never tries; these refuse anyone who does.
CREATE TRIGGER invoice_lines_frozen_update BEFORE UPDATE ON invoice_lines
  WHEN (SELECT state FROM invoices WHERE id = old.invoice) != 'draft'
BEGIN SELECT RAISE(ABORT, 'the lines of an issued invoice cannot change'); END;
CREATE TRIGGER invoice_lines_frozen_delete BEFORE DELETE ON invoice_lines
  WHEN (SELECT state FROM invoices WHERE id = old.invoice) != 'draft'
BEGIN SELECT RAISE(ABORT, 'the lines of an issued invoice cannot change'); END;
CREATE TRIGGER invoices_frozen BEFORE UPDATE OF kind, number, meter, period, currency,
  decimals, total, tax, issued, original ON invoices
  WHEN old.state != 'draft'
BEGIN SELECT RAISE(ABORT, 'an issued invoice cannot change (issue a credit note)'); END;
