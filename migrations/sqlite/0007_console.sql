-- pecwatch registry, SQLite flavour, seventh step: the operators' web console. Keep in
-- step with ../postgres/0007_console.sql.
--
-- The people who may sign in to /console, and their sessions. A password is stored only
-- as an argon2id PHC string; a session's identifier only as its SHA-256 (the cookie holds
-- the identifier itself), so a copy of the database opens no session.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,       -- lower case: letters, digits, . _ - @
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'read-only')),
    password_hash TEXT    NOT NULL,              -- argon2id, PHC string format
    created       INTEGER NOT NULL,              -- Unix seconds
    updated       INTEGER NOT NULL,
    last_login    INTEGER,
    failed_logins INTEGER NOT NULL DEFAULT 0,    -- consecutive failed sign-ins (throttling)
    last_failed   INTEGER                        -- the latest failed sign-in
);

CREATE TABLE sessions (
    id_hash TEXT    PRIMARY KEY,                 -- SHA-256 of the cookie's value, lower-case hex
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf    TEXT    NOT NULL,                    -- the token every POST form of the session carries
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);
