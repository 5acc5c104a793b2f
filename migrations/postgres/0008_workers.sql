-- pecwatch registry, PostgreSQL flavour, eighth step: several workers on one database.
-- Keep in step with ../sqlite/0008_workers.sql, which explains the leases.
CREATE TABLE leases (
    name        TEXT   PRIMARY KEY,      -- what is held: 'schedule'
    owner       TEXT   NOT NULL,         -- the holder, host:pid
    since       BIGINT NOT NULL,         -- when this holder took it (Unix seconds)
    lease_until BIGINT NOT NULL          -- when it lapses unless renewed
);

-- Who started each sweep (the worker's host:pid): the scheduler, or a cron `sweep`.
ALTER TABLE sweeps ADD COLUMN started_by TEXT;
