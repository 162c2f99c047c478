-- Compactor support, as in the PostgreSQL schema version 3:
-- objects.unreferenced_at (ms; set when an object's last chunk row goes),
-- the per-partition level-0 backlog kept by triggers on chunks, and named
-- leases. Times are milliseconds since the Unix epoch.

ALTER TABLE objects ADD COLUMN unreferenced_at INTEGER;
CREATE INDEX objects_unreferenced ON objects (unreferenced_at) WHERE unreferenced_at IS NOT NULL;

CREATE TABLE compaction_backlog (
    topic_id            BLOB    NOT NULL,
    partition           INTEGER NOT NULL,
    level0_chunks       INTEGER NOT NULL DEFAULT 0,
    level0_bytes        INTEGER NOT NULL DEFAULT 0,
    first_level0_offset INTEGER, -- NULL when the partition has no level-0 chunk
    oldest_level0       INTEGER, -- commit time (ms) of that chunk's object
    cleaned_offset      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic_id, partition),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- No index on level0_chunks or oldest_level0: a dev server has few
-- partitions, the compactor scans this small table, and every commit
-- updates these columns (an index on them would cost each chunk insert).

CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TRIGGER chunks_level0_inserted AFTER INSERT ON chunks WHEN NEW.level = 0
BEGIN
    INSERT INTO compaction_backlog (topic_id, partition, level0_chunks, level0_bytes, first_level0_offset, oldest_level0)
    VALUES (NEW.topic_id, NEW.partition, 1, NEW.byte_length, NEW.base_offset,
            (SELECT created_at FROM objects WHERE key = NEW.object_key))
    ON CONFLICT (topic_id, partition) DO UPDATE SET
        level0_chunks = level0_chunks + 1,
        level0_bytes = level0_bytes + excluded.level0_bytes,
        first_level0_offset = CASE WHEN level0_chunks > 0 THEN first_level0_offset
                                   ELSE excluded.first_level0_offset END,
        oldest_level0 = CASE WHEN level0_chunks > 0 THEN oldest_level0
                             ELSE excluded.oldest_level0 END;
END;

-- Level-0 chunks are deleted from the front of a partition's level-0 run:
-- the new first one is the next level-0 row.
CREATE TRIGGER chunks_level0_deleted AFTER DELETE ON chunks WHEN OLD.level = 0
BEGIN
    UPDATE compaction_backlog SET
        level0_chunks = max(level0_chunks - 1, 0),
        level0_bytes = max(level0_bytes - OLD.byte_length, 0),
        first_level0_offset = (
            SELECT c.base_offset FROM chunks c
            WHERE c.topic_id = OLD.topic_id AND c.partition = OLD.partition
                AND c.base_offset > OLD.base_offset AND c.level = 0
            ORDER BY c.base_offset LIMIT 1),
        oldest_level0 = (
            SELECT o.created_at FROM chunks c JOIN objects o ON o.key = c.object_key
            WHERE c.topic_id = OLD.topic_id AND c.partition = OLD.partition
                AND c.base_offset > OLD.base_offset AND c.level = 0
            ORDER BY c.base_offset LIMIT 1)
    WHERE topic_id = OLD.topic_id AND partition = OLD.partition;
END;

CREATE TRIGGER chunks_object_unreferenced AFTER DELETE ON chunks
BEGIN
    UPDATE objects SET unreferenced_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
    WHERE key = OLD.object_key AND unreferenced_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM chunks WHERE object_key = OLD.object_key);
END;

-- The state of a database migrated with data in it.
INSERT INTO compaction_backlog (topic_id, partition, level0_chunks, level0_bytes, first_level0_offset, oldest_level0)
SELECT c.topic_id, c.partition, count(*), sum(c.byte_length), min(c.base_offset), min(o.created_at)
FROM chunks c JOIN objects o ON o.key = c.object_key
WHERE c.level = 0
GROUP BY c.topic_id, c.partition;

UPDATE objects SET unreferenced_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = objects.key);
