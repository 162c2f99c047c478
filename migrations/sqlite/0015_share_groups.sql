-- Share groups, as in the PostgreSQL schema version 15: one row per share
-- partition (start_offset -1: created to be locked, never written), and
-- the share groups' configs.

CREATE TABLE share_partitions (
    group_id     TEXT    NOT NULL,
    topic_id     BLOB    NOT NULL,
    partition    INTEGER NOT NULL,
    start_offset INTEGER NOT NULL,
    state        BLOB    NOT NULL,
    PRIMARY KEY (group_id, topic_id, partition)
) STRICT, WITHOUT ROWID;

CREATE TABLE share_group_configs (
    group_id TEXT NOT NULL,
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (group_id, name)
) STRICT, WITHOUT ROWID;
