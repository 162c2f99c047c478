-- The state of consumer-protocol (KIP-848) groups, as in the PostgreSQL
-- schema: the group epoch, its state and the coordinator's JSON encoding of
-- the members and target assignment. Times are milliseconds since the Unix
-- epoch.
CREATE TABLE consumer_protocol_groups (
    name       TEXT    NOT NULL PRIMARY KEY REFERENCES consumer_groups (name) ON DELETE CASCADE,
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    state      TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
