-- pecwatch registry, SQLite flavour, eighth step: several workers on one database. Keep
-- in step with ../postgres/0008_workers.sql.
--
-- Several `pecwatch serve` processes (on one or more machines) share the sweeps through
-- the domains' leases; only one of them runs the schedule, i.e. starts the sweeps: the
-- holder of the lease named 'schedule' here. It renews the lease while it runs; when it
-- dies (or loses the database for longer than the lease) the lease lapses and another
-- process takes it over. The others join the sweep it starts.
CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,     -- what is held: 'schedule'
    owner       TEXT    NOT NULL,        -- the holder, host:pid
    since       INTEGER NOT NULL,        -- when this holder took it (Unix seconds)
    lease_until INTEGER NOT NULL         -- when it lapses unless renewed
);

-- Who started each sweep (the worker's host:pid): the scheduler, or a cron `sweep`.
ALTER TABLE sweeps ADD COLUMN started_by TEXT;
