-- pecwatch registry, SQLite flavour. Keep in step with ../postgres/0001_registry.sql:
-- same tables, columns and meaning; only the types differ (INTEGER/BOOLEAN/TEXT here,
-- BIGINT/BOOLEAN/JSONB there). Times are Unix epoch seconds. JSON columns hold text.

-- A full sweep over the monitored domains (daily, or a re-check run).
CREATE TABLE sweeps (
    id       INTEGER PRIMARY KEY,
    kind     TEXT    NOT NULL,
    started  INTEGER NOT NULL,
    finished INTEGER,                           -- NULL while running (or crashed)
    summary  TEXT,                              -- JSON, set when finished
    held     BOOLEAN NOT NULL DEFAULT FALSE     -- whether its side effects were held back
);
CREATE INDEX sweeps_unfinished ON sweeps (id) WHERE finished IS NULL;

-- Certified domains (and requests), with their lifecycle status and work lease.
CREATE TABLE domains (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,   -- normal form (A-labels, lower case)
    holder_name          TEXT,
    holder_email         TEXT    NOT NULL,
    holder_lang          TEXT    NOT NULL,          -- 'it' | 'en'
    reseller             TEXT,
    profile              TEXT    NOT NULL,          -- provider profile name or path
    exception            TEXT    NOT NULL DEFAULT '[]',  -- JSON array of CIDRs (hybrid exception)
    status               TEXT    NOT NULL,          -- JSON lifecycle::DomainStatus (authoritative)
    state                TEXT    NOT NULL,          -- copies of status fields, for filtering
    deadline             INTEGER,
    expires              INTEGER,
    next_check           INTEGER NOT NULL,
    last_check_at        INTEGER,
    last_check_ok        BOOLEAN,
    last_check_transient BOOLEAN,
    last_check_codes     TEXT,                      -- JSON array of codes
    last_check_warnings  TEXT,                      -- JSON array of codes
    lease_owner          TEXT,                      -- the worker checking it now
    lease_until          INTEGER,
    version              INTEGER NOT NULL DEFAULT 0,  -- bumped by every committed change
    created              INTEGER NOT NULL,
    updated              INTEGER NOT NULL
);
CREATE INDEX domains_due ON domains (next_check, id) WHERE state NOT IN ('requested', 'expired');
CREATE INDEX domains_state ON domains (state, name);
CREATE INDEX domains_deadline ON domains (deadline) WHERE deadline IS NOT NULL;

-- Every check, with its full result.
CREATE TABLE checks (
    id        INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    sweep_id  INTEGER REFERENCES sweeps (id),
    at        INTEGER NOT NULL,
    ok        BOOLEAN NOT NULL,
    transient BOOLEAN NOT NULL,
    codes     TEXT    NOT NULL,                 -- JSON array
    warnings  TEXT    NOT NULL,                 -- JSON array
    result    TEXT    NOT NULL                  -- JSON, the whole check result
);
CREATE INDEX checks_domain ON checks (domain_id, at);

-- Every state change.
CREATE TABLE transitions (
    id         INTEGER PRIMARY KEY,
    domain_id  INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    actor      TEXT    NOT NULL
);
CREATE INDEX transitions_domain ON transitions (domain_id, id);

-- Side effects to carry out (notices, publication, alerts), exactly once per key.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL UNIQUE,        -- e.g. 'pec.x.it/error_found/3'
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,               -- JSON
    created     INTEGER NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    accepted_at INTEGER,                        -- when the recipient's server accepted it
    updated     INTEGER NOT NULL
);
CREATE INDEX outbox_state ON outbox (state, id);
CREATE INDEX outbox_domain ON outbox (domain_id, id);

-- Operator alerts (mass failures, held sweeps, …).
CREATE TABLE alerts (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    message TEXT    NOT NULL
);
