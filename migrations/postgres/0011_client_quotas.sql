-- Client quotas (Kafka's KIP-55 entities): one row per entity and key.
-- Each part of an entity is absent (kind 0), the default (1) or named (2,
-- with its name); the name is '' unless named. The version row advances
-- with every change, so that nodes poll one row and reload all quotas only
-- when it moved.

CREATE TABLE client_quotas (
    user_kind   smallint         NOT NULL CHECK (user_kind IN (0, 1, 2)),
    user_name   text             NOT NULL,
    client_kind smallint         NOT NULL CHECK (client_kind IN (0, 1, 2)),
    client_id   text             NOT NULL,
    quota_key   text             NOT NULL,
    value       double precision NOT NULL,
    PRIMARY KEY (user_kind, user_name, client_kind, client_id, quota_key),
    CHECK (user_kind = 2 OR user_name = ''),
    CHECK (client_kind = 2 OR client_id = ''),
    CHECK (user_kind > 0 OR client_kind > 0)
);

CREATE TABLE client_quotas_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint  NOT NULL
);
INSERT INTO client_quotas_version (one, version) VALUES (true, 0);
