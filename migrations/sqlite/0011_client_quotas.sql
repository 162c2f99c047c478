-- Client quotas, as in the PostgreSQL schema version 11: one row per
-- entity and key, each part of an entity absent (kind 0), the default (1)
-- or named (2, with its name; '' otherwise), and a version row that
-- advances with every change.

CREATE TABLE client_quotas (
    user_kind   INTEGER NOT NULL CHECK (user_kind IN (0, 1, 2)),
    user_name   TEXT    NOT NULL,
    client_kind INTEGER NOT NULL CHECK (client_kind IN (0, 1, 2)),
    client_id   TEXT    NOT NULL,
    quota_key   TEXT    NOT NULL,
    value       REAL    NOT NULL,
    PRIMARY KEY (user_kind, user_name, client_kind, client_id, quota_key),
    CHECK (user_kind = 2 OR user_name = ''),
    CHECK (client_kind = 2 OR client_id = ''),
    CHECK (user_kind > 0 OR client_kind > 0)
) STRICT, WITHOUT ROWID;

CREATE TABLE client_quotas_version (
    one     INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO client_quotas_version (one, version) VALUES (1, 0);
