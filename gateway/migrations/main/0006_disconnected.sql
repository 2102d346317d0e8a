-- 0006: a meter's removal date (gateway/service_dates.py, docs/billing.md "A meter connected
-- or removed during the month"): the local date YYYY-MM-DD it was removed or its consumer
-- moved out. Its last bill prorates up to that day and is its final one; no bill after.
-- NULL: in service. Not `removed` (epoch seconds), which unregisters a meter altogether.
ALTER TABLE meters ADD COLUMN disconnected TEXT;
