-- Consumer groups and their committed offsets, as in the PostgreSQL schema.
-- Times are milliseconds since the Unix epoch.
--
-- A group row holds what survives a restart: the protocol type, the selected
-- protocol and the generation; members rejoin. Committing offsets creates the
-- row, so groups that only store offsets are listed too.
CREATE TABLE consumer_groups (
    name          TEXT    NOT NULL PRIMARY KEY,
    protocol_type TEXT    NOT NULL DEFAULT '',
    protocol      TEXT    NOT NULL DEFAULT '',
    generation    INTEGER NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL DEFAULT 'Empty',
    updated_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The last committed offset of each (group, topic, partition). Offsets
-- belong to their topic by name: deleting a topic deletes them.
CREATE TABLE group_offsets (
    group_name       TEXT    NOT NULL REFERENCES consumer_groups (name) ON DELETE CASCADE,
    topic            TEXT    NOT NULL REFERENCES topics (name) ON DELETE CASCADE,
    partition        INTEGER NOT NULL CHECK (partition >= 0),
    committed_offset INTEGER NOT NULL,
    leader_epoch     INTEGER NOT NULL DEFAULT -1,
    metadata         TEXT    NOT NULL DEFAULT '',
    commit_time      INTEGER NOT NULL,
    PRIMARY KEY (group_name, topic, partition)
) STRICT, WITHOUT ROWID;

CREATE INDEX group_offsets_topic ON group_offsets (topic);
