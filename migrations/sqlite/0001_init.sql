-- Initial schema of the SQLite metastore (strata dev). It holds the same
-- facts as the PostgreSQL schema: topics, partitions, segment objects, the
-- chunk index into them, and idempotent-producer state. Topic ids are UUIDs
-- stored as 16-byte blobs; times are milliseconds since the Unix epoch.

CREATE TABLE topics (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    name       TEXT    NOT NULL UNIQUE,
    partitions INTEGER NOT NULL CHECK (partitions > 0),
    configs    TEXT    NOT NULL DEFAULT '{}', -- JSON object of string values
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE partitions (
    topic_id         BLOB    NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    partition        INTEGER NOT NULL CHECK (partition >= 0),
    log_start_offset INTEGER NOT NULL DEFAULT 0,
    next_offset      INTEGER NOT NULL DEFAULT 0,
    leader_node      INTEGER NOT NULL DEFAULT -1,
    leader_epoch     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic_id, partition),
    CHECK (0 <= log_start_offset AND log_start_offset <= next_offset)
) STRICT, WITHOUT ROWID;

-- Every committed segment object, referenced or not: the compactor deletes
-- objects that no chunk references any more.
CREATE TABLE objects (
    key        TEXT    NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    level      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- One row per partition chunk. For each partition the rows tile
-- [log_start_offset, next_offset) without gap or overlap.
CREATE TABLE chunks (
    topic_id      BLOB    NOT NULL,
    partition     INTEGER NOT NULL,
    base_offset   INTEGER NOT NULL,
    end_offset    INTEGER NOT NULL,
    object_key    TEXT    NOT NULL REFERENCES objects (key),
    level         INTEGER NOT NULL,
    byte_start    INTEGER NOT NULL CHECK (byte_start >= 0),
    byte_length   INTEGER NOT NULL CHECK (byte_length >= 0),
    raw_length    INTEGER NOT NULL CHECK (raw_length >= 0),
    batch_count   INTEGER NOT NULL,
    max_timestamp INTEGER NOT NULL,
    skip          TEXT, -- JSON array of batch indices not in the log; NULL when none
    PRIMARY KEY (topic_id, partition, base_offset),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE,
    CHECK (end_offset > base_offset)
) STRICT, WITHOUT ROWID;

CREATE INDEX chunks_object_key ON chunks (object_key);

CREATE TABLE producer_state (
    producer_id INTEGER NOT NULL,
    topic_id    BLOB    NOT NULL,
    partition   INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,
    recent      TEXT    NOT NULL, -- JSON [[first_seq, last_seq, base_offset], ...], oldest first
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (producer_id, topic_id, partition),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX producer_state_partition ON producer_state (topic_id, partition);

-- A single row holding the next producer id to hand out.
CREATE TABLE producer_ids (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    next_id INTEGER NOT NULL
) STRICT;

INSERT INTO producer_ids (id, next_id) VALUES (1, 1);
