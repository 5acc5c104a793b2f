-- pecwatch registry, PostgreSQL flavour, second step: sweeps in two phases, operator
-- alerts in the outbox. Keep in step with ../sqlite/0002_sweeps.sql, which explains the
-- two phases.

ALTER TABLE sweeps ADD COLUMN decided BIGINT;
ALTER TABLE sweeps ADD COLUMN hold_reason TEXT;
-- Sweeps left unfinished by an older version (crashes) are closed, but the latest.
UPDATE sweeps SET finished = started
    WHERE finished IS NULL AND id < (SELECT max(id) FROM sweeps WHERE finished IS NULL);
CREATE UNIQUE INDEX sweeps_one_running ON sweeps ((finished IS NULL)) WHERE finished IS NULL;

ALTER TABLE domains ADD COLUMN pending_sweep BIGINT REFERENCES sweeps (id);
ALTER TABLE domains ADD COLUMN pending_event JSONB;
CREATE INDEX domains_pending ON domains (pending_sweep, id) WHERE pending_sweep IS NOT NULL;

ALTER TABLE checks ADD COLUMN previous_ok BOOLEAN;
CREATE INDEX checks_sweep ON checks (sweep_id) WHERE sweep_id IS NOT NULL;

ALTER TABLE transitions ADD COLUMN sweep_id BIGINT REFERENCES sweeps (id);

ALTER TABLE outbox ALTER COLUMN domain_id DROP NOT NULL;  -- NULL: operator alert
