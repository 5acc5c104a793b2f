-- pecwatch registry, PostgreSQL flavour, third step: delivering notices. Keep in step with
-- ../sqlite/0003_notices.sql.
--
-- A sender claims due items (a lease, like the sweep's), tries to deliver them, and
-- records the outcome: sent (with the server's reply and the acceptance time, in the
-- same transaction as the domain's lifecycle update), retried later, or failed.
ALTER TABLE outbox ADD COLUMN next_attempt BIGINT;   -- not before this (NULL: at once)
ALTER TABLE outbox ADD COLUMN claim_owner TEXT;      -- the sender delivering it now
ALTER TABLE outbox ADD COLUMN claim_until BIGINT;
ALTER TABLE outbox ADD COLUMN message_id TEXT;       -- kept for every retry of the item
ALTER TABLE outbox ADD COLUMN reply TEXT;            -- the mail server's last reply
CREATE INDEX outbox_due ON outbox (next_attempt, id) WHERE state = 'pending';
