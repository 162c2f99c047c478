-- SCRAM credentials, as in the PostgreSQL schema: salt, iteration count and
-- the stored and server keys per user and mechanism; never the password.
-- updated_at is milliseconds since the Unix epoch.
CREATE TABLE scram_credentials (
    username   TEXT    NOT NULL,
    mechanism  TEXT    NOT NULL CHECK (mechanism IN ('SCRAM-SHA-256', 'SCRAM-SHA-512')),
    salt       BLOB    NOT NULL,
    stored_key BLOB    NOT NULL,
    server_key BLOB    NOT NULL,
    iterations INTEGER NOT NULL CHECK (iterations > 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (username, mechanism)
) STRICT, WITHOUT ROWID;
