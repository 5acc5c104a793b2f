-- pecwatch registry, SQLite flavour, sixth step: API tokens for machines (the web API,
-- `Authorization: Bearer …`). Keep in step with ../postgres/0006_api_tokens.sql.
--
-- A token is 256 random bits shown once when it is made (`pecwatch tokens add`); only its
-- SHA-256 is stored. Its role is `operator` (every call) or `read-only` (GET and HEAD).
-- A revoked token keeps its row (the history of who had access) and no longer works; its
-- name can be given to a new token.
CREATE TABLE api_tokens (
    id        INTEGER PRIMARY KEY,
    name      TEXT    NOT NULL,
    role      TEXT    NOT NULL CHECK (role IN ('operator', 'read-only')),
    hash      TEXT    NOT NULL UNIQUE,           -- SHA-256 of the token, lower-case hex
    created   INTEGER NOT NULL,                  -- Unix seconds
    last_used INTEGER,                           -- Unix seconds, to the minute
    revoked   INTEGER                            -- Unix seconds; NULL while it works
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked IS NULL;
