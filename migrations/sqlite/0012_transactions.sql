-- The durable state of transactional ids, as in the PostgreSQL schema.
-- Times are milliseconds since the Unix epoch by the store's clock;
-- start_time is NULL unless a transaction is open. partitions, groups and
-- pending offsets are JSON arrays.
CREATE TABLE transactions (
    transactional_id TEXT    NOT NULL PRIMARY KEY,
    producer_id      INTEGER NOT NULL,
    producer_epoch   INTEGER NOT NULL CHECK (producer_epoch >= 0),
    state            TEXT    NOT NULL,
    timeout_ms       INTEGER NOT NULL CHECK (timeout_ms > 0),
    partitions       TEXT    NOT NULL DEFAULT '[]',
    group_names      TEXT    NOT NULL DEFAULT '[]',
    pending_offsets  TEXT    NOT NULL DEFAULT '[]',
    start_time       INTEGER,
    updated_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL CHECK (version > 0)
) STRICT, WITHOUT ROWID;
