-- Cluster membership and partition leadership, as in the PostgreSQL schema.
-- Times are milliseconds since the Unix epoch; instance ids are 16-byte
-- UUID blobs. A SQLite metastore serves one process, which is therefore
-- always the controller, but the tables and rules are the same.

-- The node registry. A node is live while expires_at is in the future.
CREATE TABLE cluster_nodes (
    node_id       INTEGER NOT NULL PRIMARY KEY CHECK (node_id >= 0),
    instance      BLOB    NOT NULL CHECK (length(instance) = 16),
    host          TEXT    NOT NULL,
    port          INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
    rack          TEXT    NOT NULL DEFAULT '',
    roles         TEXT    NOT NULL DEFAULT '', -- comma-separated role names
    registered_at INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;

-- The controller lease: one row. See the PostgreSQL schema.
CREATE TABLE cluster_controller (
    id              INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    node_id         INTEGER NOT NULL DEFAULT -1,
    instance        BLOB,
    term            INTEGER NOT NULL DEFAULT 0,
    expires_at      INTEGER NOT NULL DEFAULT 0,
    leaders_version INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO cluster_controller DEFAULT VALUES;

-- Leader epoch history: epoch began when the partition's next offset was
-- start_offset. Epoch 0 has no row.
CREATE TABLE leader_epochs (
    topic_id     BLOB    NOT NULL,
    partition    INTEGER NOT NULL,
    epoch        INTEGER NOT NULL CHECK (epoch > 0),
    start_offset INTEGER NOT NULL CHECK (start_offset >= 0),
    PRIMARY KEY (topic_id, partition, epoch),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
