-- pecwatch registry, SQLite flavour, fifth step: activation. Orders, the mailboxes of
-- certified domains, set-password links and the steps of each activation. Keep in step
-- with ../postgres/0005_orders.sql.

-- An order of PEC on a domain: the customer's own domain or an internal subdomain of the
-- provider. It becomes a domain in the registry when approved.
CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,              -- the domain, normal form
    kind         TEXT    NOT NULL CHECK (kind IN ('own', 'internal')),
    holder_name  TEXT,
    holder_email TEXT    NOT NULL,
    holder_lang  TEXT    NOT NULL,              -- 'it' | 'en'
    reseller     TEXT,
    profile      TEXT    NOT NULL,
    expires      INTEGER,                       -- the certification's expiry
    state        TEXT    NOT NULL CHECK (state IN ('received', 'approved', 'rejected')),
    reason       TEXT,                          -- why rejected
    actor        TEXT,                          -- who approved or rejected it
    domain_id    INTEGER REFERENCES domains (id) ON DELETE SET NULL,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL
);
-- One open (received or approved) order per name.
CREATE UNIQUE INDEX orders_open_name ON orders (name) WHERE state <> 'rejected';
CREATE INDEX orders_state ON orders (state, id);

-- The mailboxes of certified domains. The password is an argon2id PHC string, NULL until
-- the holder sets it through a link.
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY,
    domain_id     INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    address       TEXT    NOT NULL UNIQUE,      -- local@domain, lower case
    password_hash TEXT,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL
);
CREATE INDEX mailboxes_domain ON mailboxes (domain_id, address);

-- Single-use, expiring links to set a mailbox's password: only the SHA-256 of the token
-- is kept (the token itself is 256 random bits, sent once).
CREATE TABLE password_links (
    id         INTEGER PRIMARY KEY,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    used       INTEGER                          -- when it was used; NULL while usable
);

-- The steps of each domain's activation, each recorded once (idempotent, resumable).
CREATE TABLE activation_steps (
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    step      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    detail    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (domain_id, step)
);
