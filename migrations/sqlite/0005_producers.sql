-- Producer ids handed out by InitProducerId, until they expire; see the
-- PostgreSQL schema. created_at is in milliseconds since the Unix epoch.
CREATE TABLE producers (
    producer_id INTEGER NOT NULL PRIMARY KEY,
    created_at  INTEGER NOT NULL
) STRICT;
