-- FROZEN: the schema gateway/schema.py created before versioned migrations (main at
-- d216bc4), run with the secrets file attached as `sec`. tests/gateway/test_migrations.py
-- builds a database with it and checks the gateway adopts and upgrades it. Never edit.
CREATE TABLE IF NOT EXISTS meters(
  id TEXT PRIMARY KEY,            -- meter id, also its MQTT username and topic segment
  mid INTEGER UNIQUE NOT NULL,    -- internal key of the big tables
  name TEXT, grp TEXT, tariff TEXT,
  utc_offset_min INTEGER NOT NULL DEFAULT 0,
  interval_s INTEGER NOT NULL DEFAULT 60,
  max_power_w INTEGER NOT NULL DEFAULT 25000,
  first_seq INTEGER NOT NULL DEFAULT 1,
  attrs TEXT NOT NULL DEFAULT '{}',
  online INTEGER NOT NULL DEFAULT 0, last_seen INTEGER, fw TEXT, rssi INTEGER, errors TEXT,
  hc INTEGER NOT NULL DEFAULT 0,  -- high-contiguous seq (persisted lazily)
  created INTEGER, removed INTEGER);
CREATE TABLE IF NOT EXISTS raw(
  mid INTEGER NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, wh INTEGER NOT NULL,
  avg_dw INTEGER NOT NULL, v_dv INTEGER NOT NULL, i_ma INTEGER NOT NULL, pf_m INTEGER NOT NULL,
  hz_c INTEGER NOT NULL, credit INTEGER NOT NULL, flags INTEGER NOT NULL,
  PRIMARY KEY(mid, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps(        -- declared journal-full gaps: seqs lo..hi dropped
  mid INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY(mid, lo, hi));
CREATE TABLE IF NOT EXISTS agg30(       -- per meter, per 30-minute UTC slot (slot = t // 1800)
  mid INTEGER NOT NULL, slot INTEGER NOT NULL,
  wh INTEGER NOT NULL DEFAULT 0, cost_um INTEGER NOT NULL DEFAULT 0,
  n INTEGER NOT NULL DEFAULT 0,          -- interval records ending in the slot
  max_dw INTEGER NOT NULL DEFAULT 0,     -- highest interval average demand, W x10
  bucket TEXT,                           -- time-of-use bucket of the slot
  PRIMARY KEY(mid, slot)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grp30(       -- per group ('' = the whole fleet), per slot
  grp TEXT NOT NULL, slot INTEGER NOT NULL,
  wh INTEGER NOT NULL DEFAULT 0, cost_um INTEGER NOT NULL DEFAULT 0, n INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(grp, slot)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anomalies(   -- energy deltas excluded from aggregates
  mid INTEGER NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, kind TEXT NOT NULL,
  dwh INTEGER NOT NULL, dt INTEGER NOT NULL,
  found INTEGER NOT NULL,                -- wall-clock time the gateway found it
  PRIMARY KEY(mid, seq));
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY, mid INTEGER NOT NULL, t INTEGER NOT NULL, kind TEXT NOT NULL,
  eseq INTEGER, data TEXT NOT NULL, recv INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS events_eseq ON events(mid, eseq) WHERE eseq IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_t ON events(mid, t);
CREATE TABLE IF NOT EXISTS live(mid INTEGER PRIMARY KEY, t INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters(  -- pruned with the raw records (Store.prune)
  id INTEGER PRIMARY KEY, t REAL NOT NULL, topic TEXT NOT NULL,
  payload BLOB NOT NULL,                 -- the first DEAD_KEEP bytes
  reason TEXT NOT NULL,
  size INTEGER);                         -- the payload's full length
CREATE INDEX IF NOT EXISTS dead_letters_t ON dead_letters(t);
CREATE TABLE IF NOT EXISTS tariffs(name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated INTEGER);
CREATE TABLE IF NOT EXISTS billing_plans(  -- docs/billing.md; a meter's billing_plan attribute
  name TEXT PRIMARY KEY,                   -- names one, else the plan 'default' applies
  spec TEXT NOT NULL, updated INTEGER);
CREATE TABLE IF NOT EXISTS transactions(
  id INTEGER PRIMARY KEY, mid INTEGER NOT NULL, t INTEGER NOT NULL,
  kind TEXT NOT NULL,                    -- 'topup' | 'set' | 'disable' ...
  amount INTEGER NOT NULL,               -- credit, minor units
  token_value INTEGER NOT NULL, token_count INTEGER NOT NULL, token TEXT NOT NULL,
  ref TEXT, status TEXT NOT NULL DEFAULT 'vended');
CREATE INDEX IF NOT EXISTS transactions_mid ON transactions(mid, t);
CREATE TABLE IF NOT EXISTS vend_keys(   -- idempotency keys of top-ups (gateway/vend.py): the
  mid INTEGER NOT NULL, key TEXT NOT NULL,  -- primary key makes a key vend once per meter
  tx INTEGER NOT NULL, PRIMARY KEY(mid, key));
CREATE TABLE IF NOT EXISTS outbox(      -- commands to meters, delivered in order (gateway/outbox.py)
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the meter caches results by command id
  mid INTEGER NOT NULL,
  kind TEXT NOT NULL,                    -- token | relay | config
  cid TEXT NOT NULL,                     -- the command id the meter echoes in res
  payload TEXT NOT NULL,                 -- the command's fields (JSON, without id and ver)
  tx INTEGER,                            -- transactions.id of a token
  status TEXT NOT NULL,                  -- queued | sent | accepted | rejected | expired
  attempts INTEGER NOT NULL DEFAULT 0,   -- publishes so far
  created REAL NOT NULL, sent REAL, done REAL,   -- epoch s: queued, last published, ended
  retry_at REAL,                         -- a sent command is published again at this time
  result TEXT,                           -- the meter's res (JSON)
  reason TEXT);                          -- why rejected or expired, or how it was accepted
CREATE UNIQUE INDEX IF NOT EXISTS outbox_cid ON outbox(mid, cid);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status, mid, id);
CREATE VIEW IF NOT EXISTS readings AS
  SELECT m.id AS meter, r.seq, r.t, datetime(r.t, 'unixepoch') AS utc, r.wh,
         r.avg_dw / 10.0 AS avg_w, r.v_dv / 10.0 AS v, r.i_ma / 1000.0 AS a,
         r.pf_m / 1000.0 AS pf, r.hz_c / 100.0 AS hz, r.credit, r.flags
  FROM raw r JOIN meters m USING(mid);
CREATE VIEW IF NOT EXISTS daily AS
  SELECT m.id AS meter, date(a.slot * 1800 + m.utc_offset_min * 60, 'unixepoch') AS day,
         sum(a.wh) AS wh, sum(a.cost_um) / 1000000 AS cost, max(a.max_dw) / 10.0 AS max_w,
         max(a.wh) * 2 AS max_30min_w, sum(a.n) AS records
  FROM agg30 a JOIN meters m USING(mid) GROUP BY m.id, day;
CREATE TABLE IF NOT EXISTS sec.meter_keys(
  id TEXT PRIMARY KEY, token_key TEXT, token_starting_code INTEGER,
  token_count INTEGER NOT NULL DEFAULT 0);
