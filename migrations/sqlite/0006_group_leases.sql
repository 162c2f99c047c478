-- Consumer group coordinator leases, and the members of each group's
-- current generation, as in the PostgreSQL schema. Times are milliseconds
-- since the Unix epoch by the store's clock; instance ids are 16-byte UUID
-- blobs. A SQLite metastore serves one process, but the rules are the same:
-- every group write names the holder's instance and epoch and is refused
-- unless that lease is live.
CREATE TABLE group_leases (
    group_name TEXT    NOT NULL PRIMARY KEY,
    node_id    INTEGER NOT NULL,
    instance   BLOB    NOT NULL CHECK (length(instance) = 16),
    epoch      INTEGER NOT NULL CHECK (epoch > 0),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX group_leases_instance ON group_leases (instance);

-- The leader and the members of the current generation, a JSON array.
ALTER TABLE consumer_groups ADD COLUMN leader TEXT NOT NULL DEFAULT '';
ALTER TABLE consumer_groups ADD COLUMN members TEXT NOT NULL DEFAULT '[]';
