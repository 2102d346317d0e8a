-- 0002: persisted alerts, their thresholds, subscriptions and the notification delivery log
-- (gateway/alerting.py, gateway/notify.py; docs/gateway.md "Alerts").
CREATE TABLE alerts(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,                    -- offline | low_credit | supply_cut | ... (alerts.py)
  meter TEXT,                            -- NULL: a gateway-wide alert (dead letters)
  severity TEXT NOT NULL,                -- warning | critical
  explanation TEXT NOT NULL,             -- plain language, with the numbers
  data TEXT NOT NULL DEFAULT '{}',       -- the numbers behind it (JSON)
  raised INTEGER NOT NULL, updated INTEGER NOT NULL,
  acknowledged INTEGER, acknowledged_by TEXT,
  cleared INTEGER);
-- deduplication: at most one open alert per meter and kind
CREATE UNIQUE INDEX alerts_open ON alerts(kind, coalesce(meter, '')) WHERE cleared IS NULL;
CREATE INDEX alerts_meter ON alerts(meter, kind, id);
CREATE TABLE alert_thresholds(           -- scope '' is the fleet; a meter id overrides it
  scope TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY(scope, name));
CREATE TABLE alert_subscriptions(
  id INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,                 -- webhook | email
  target TEXT NOT NULL,                  -- the URL or the email address
  kinds TEXT NOT NULL DEFAULT '[]',      -- JSON lists; empty means all
  meters TEXT NOT NULL DEFAULT '[]',
  groups TEXT NOT NULL DEFAULT '[]',
  created INTEGER NOT NULL);
CREATE TABLE alert_notices(              -- an alert raised or cleared, for one subscription
  id INTEGER PRIMARY KEY, sub INTEGER NOT NULL, alert INTEGER NOT NULL,
  event TEXT NOT NULL,                   -- raised | cleared
  t INTEGER NOT NULL,
  delivery INTEGER);                     -- NULL until put into a delivery
CREATE INDEX alert_notices_pending ON alert_notices(sub, delivery);
CREATE TABLE alert_deliveries(           -- one webhook body or one email digest
  id INTEGER PRIMARY KEY, sub INTEGER NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL,                  -- pending | delivered | failed
  attempts INTEGER NOT NULL DEFAULT 0,
  created REAL NOT NULL, next_at REAL NOT NULL, done REAL);
CREATE INDEX alert_deliveries_due ON alert_deliveries(status, next_at);
CREATE TABLE alert_attempts(             -- every attempt of a delivery
  id INTEGER PRIMARY KEY, delivery INTEGER NOT NULL, t REAL NOT NULL,
  status_code INTEGER,                   -- HTTP status or SMTP reply code; NULL: no answer
  latency_ms INTEGER NOT NULL, error TEXT);
CREATE INDEX alert_attempts_delivery ON alert_attempts(delivery);
