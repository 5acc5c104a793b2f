-- pecwatch registry, SQLite flavour, fourth step: publications of the providers' index
-- (RFC 6109). Keep in step with ../postgres/0004_index.sql.
--
-- Every recorded export of the index (`pecwatch index export --record`): when, the
-- SHA-256 of the LDIF, how many domains it listed and which (sorted, one per line), and
-- the LDIF itself, so that `pecwatch index diff` can say what changed since.
CREATE TABLE publications (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,            -- Unix seconds
    hash         TEXT    NOT NULL,            -- SHA-256 of the LDIF, lower-case hex
    domain_count INTEGER NOT NULL,
    domains      TEXT    NOT NULL,            -- managedDomains, sorted, '\n'-separated
    ldif         TEXT    NOT NULL
);
CREATE INDEX publications_at ON publications (at, id);
