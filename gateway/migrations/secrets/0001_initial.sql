-- 0001: the schema as the gateway created it before versioned migrations (every
-- statement IF NOT EXISTS, so a database from then is adopted: gateway/storage/migrate.py).
-- Never edit an applied migration: add the next file.
CREATE TABLE IF NOT EXISTS meter_keys(
  id TEXT PRIMARY KEY, token_key TEXT, token_starting_code INTEGER,
  token_count INTEGER NOT NULL DEFAULT 0);
