-- 0004: the operator console's accounts, sessions, login lockout and audit log
-- (gateway/console/, docs/console.md). Portable SQL: the PostgreSQL backend runs it too.
CREATE TABLE operators(
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('admin', 'vendor', 'viewer')),
  password TEXT NOT NULL,                -- scrypt$N$r$p$salt$hash (gateway/console/passwords.py)
  created INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE operator_sessions(
  token_hash TEXT PRIMARY KEY,           -- sha256 of the cookie: a copy of the table logs no one in
  operator TEXT NOT NULL REFERENCES operators(name),
  csrf TEXT NOT NULL,                    -- the token every form of this session carries
  created INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator);
CREATE TABLE login_failures(             -- per name, known or not (no account enumeration)
  name TEXT PRIMARY KEY, failures INTEGER NOT NULL, locked_until INTEGER NOT NULL);
CREATE TABLE audit_log(                  -- append-only: every write, by whom, before and after
  id INTEGER PRIMARY KEY,
  t INTEGER NOT NULL,
  actor TEXT NOT NULL,                   -- operator name, or api-key:<fingerprint>
  action TEXT NOT NULL,                  -- e.g. topup, put_tariff, relay, acknowledge
  target TEXT NOT NULL DEFAULT '',       -- the meter, tariff, alert... it acted on
  before TEXT,                           -- JSON, NULL when nothing existed or it is not known
  after TEXT);                           -- JSON: the result
CREATE INDEX audit_log_t ON audit_log(t);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE customers(                  -- linked to meters by the meter attribute `customer`
  account TEXT PRIMARY KEY,              -- the utility's account number
  name TEXT NOT NULL,
  address TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '',
  updated INTEGER NOT NULL);
CREATE INDEX customers_name ON customers(name);
