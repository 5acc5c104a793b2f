-- pecwatch registry, SQLite flavour, second step: sweeps in two phases, operator alerts
-- in the outbox. Keep in step with ../postgres/0002_sweeps.sql.
--
-- A sweep first checks every due domain. A check that changes nothing in the domain's
-- lifecycle is committed at once; one that would (a new failure, a correction, a
-- deadline) is recorded and left pending. When every due domain is checked the sweep
-- decides once, for all of them: apply the pending changes, or hold them (canaries
-- failed, too many new failures: our fault, not the domains').

-- The decision: when it was taken, and why the sweep was held (NULL: not held). A hold
-- reason may be set before the decision (the canaries failed before the sweep).
ALTER TABLE sweeps ADD COLUMN decided INTEGER;
ALTER TABLE sweeps ADD COLUMN hold_reason TEXT;
-- At most one sweep runs at a time: a second starter joins it.
-- Sweeps left unfinished by an older version (crashes) are closed, but the latest.
UPDATE sweeps SET finished = started
    WHERE finished IS NULL AND id < (SELECT max(id) FROM sweeps WHERE finished IS NULL);
CREATE UNIQUE INDEX sweeps_one_running ON sweeps ((finished IS NULL)) WHERE finished IS NULL;

-- A check awaiting its sweep's decision: the sweep and the lifecycle event (JSON).
ALTER TABLE domains ADD COLUMN pending_sweep INTEGER REFERENCES sweeps (id);
ALTER TABLE domains ADD COLUMN pending_event TEXT;
CREATE INDEX domains_pending ON domains (pending_sweep, id) WHERE pending_sweep IS NOT NULL;

-- Whether the domain's previous check passed (NULL: no previous check), for the share of
-- new failures in a sweep.
ALTER TABLE checks ADD COLUMN previous_ok BOOLEAN;
CREATE INDEX checks_sweep ON checks (sweep_id) WHERE sweep_id IS NOT NULL;

-- The sweep whose decision made the transition (NULL: an operator or another command).
ALTER TABLE transitions ADD COLUMN sweep_id INTEGER REFERENCES sweeps (id);

-- Outbox items need not be about a domain: operator alerts are not. SQLite cannot drop a
-- NOT NULL constraint, so the table is rebuilt.
CREATE TABLE outbox_new (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER REFERENCES domains (id) ON DELETE CASCADE,  -- NULL: operator alert
    key         TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    accepted_at INTEGER,
    updated     INTEGER NOT NULL
);
INSERT INTO outbox_new (id, domain_id, key, kind, payload, created, state, attempts,
                        last_error, accepted_at, updated)
    SELECT id, domain_id, key, kind, payload, created, state, attempts, last_error,
           accepted_at, updated
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_state ON outbox (state, id);
CREATE INDEX outbox_domain ON outbox (domain_id, id);
