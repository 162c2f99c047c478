-- Compactor support.
--
-- 1. objects.unreferenced_at: set in the transaction that deletes an object's
--    last chunk row (a compactor swap, retention, DeleteTopic); the compactor
--    deletes the object once a grace period has passed since.
-- 2. compaction_backlog: per partition, the level-0 chunks not merged yet,
--    kept by triggers on chunks, so that "partitions with more than N level-0
--    chunks or with level-0 chunks older than T" is an index lookup.
-- 3. leases: named leases with an expiry (one active compactor).

ALTER TABLE objects ADD COLUMN unreferenced_at timestamptz;
CREATE INDEX objects_unreferenced_idx ON objects (unreferenced_at) WHERE unreferenced_at IS NOT NULL;

CREATE TABLE compaction_backlog (
    topic_id             uuid        NOT NULL,
    partition            integer     NOT NULL,
    level0_chunks        integer     NOT NULL DEFAULT 0,
    level0_bytes         bigint      NOT NULL DEFAULT 0,
    -- Base offset of the partition's first level-0 chunk; NULL when none.
    first_level0_offset  bigint,
    -- Commit time of the object holding that chunk; NULL when none.
    oldest_level0        timestamptz,
    -- Key compaction checkpoint: below it, at most one record per key.
    cleaned_offset       bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (topic_id, partition),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
);
CREATE INDEX compaction_backlog_chunks_idx ON compaction_backlog (level0_chunks);
CREATE INDEX compaction_backlog_oldest_idx ON compaction_backlog (oldest_level0);

CREATE TABLE leases (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- New level-0 chunks join their partition's backlog. Commits insert chunk
-- rows with the partition rows locked, so backlog rows are updated in the
-- same order as the partitions and add no lock of their own.
CREATE FUNCTION strata_chunks_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO compaction_backlog AS b
        (topic_id, partition, level0_chunks, level0_bytes, first_level0_offset, oldest_level0)
    SELECT n.topic_id, n.partition, count(*), sum(n.length), min(n.base_offset), now()
    FROM new_rows n
    WHERE n.level = 0
    GROUP BY n.topic_id, n.partition
    ON CONFLICT (topic_id, partition) DO UPDATE SET
        level0_chunks = b.level0_chunks + excluded.level0_chunks,
        level0_bytes = b.level0_bytes + excluded.level0_bytes,
        first_level0_offset = CASE WHEN b.level0_chunks > 0 THEN b.first_level0_offset
                                   ELSE excluded.first_level0_offset END,
        oldest_level0 = CASE WHEN b.level0_chunks > 0 THEN b.oldest_level0
                             ELSE excluded.oldest_level0 END;
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_inserted AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION strata_chunks_inserted();

-- Deleted chunks leave the backlog, and objects left without chunks are
-- marked unreferenced. Level-0 chunks are deleted from the front of a
-- partition's level-0 run, so the new first one is the next level-0 row.
--
-- The object rows are locked (in key order) before the check for remaining
-- chunks: of two transactions deleting the last chunks of one object, the
-- second to take the lock sees the first's deletion and marks the object.
CREATE FUNCTION strata_chunks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE compaction_backlog b SET
        level0_chunks = greatest(b.level0_chunks - d.n, 0),
        level0_bytes = greatest(b.level0_bytes - d.bytes, 0),
        first_level0_offset = nxt.base_offset,
        oldest_level0 = nxt.created_at
    FROM (
        SELECT o.topic_id, o.partition, count(*) AS n, sum(o.length) AS bytes, min(o.base_offset) AS low
        FROM old_rows o WHERE o.level = 0
        GROUP BY o.topic_id, o.partition
    ) d
    LEFT JOIN LATERAL (
        SELECT c.base_offset, obj.created_at
        FROM chunks c JOIN objects obj ON obj.key = c.object_key
        WHERE c.topic_id = d.topic_id AND c.partition = d.partition
            AND c.base_offset > d.low AND c.level = 0
        ORDER BY c.base_offset
        LIMIT 1
    ) nxt ON true
    WHERE b.topic_id = d.topic_id AND b.partition = d.partition;

    PERFORM 1 FROM objects
    WHERE key IN (SELECT DISTINCT object_key FROM old_rows)
    ORDER BY key
    FOR UPDATE;
    UPDATE objects o SET unreferenced_at = now()
    WHERE o.key IN (SELECT DISTINCT object_key FROM old_rows)
        AND o.unreferenced_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = o.key);
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_deleted AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION strata_chunks_deleted();

-- The state of a database migrated with data in it.
INSERT INTO compaction_backlog (topic_id, partition, level0_chunks, level0_bytes, first_level0_offset, oldest_level0)
SELECT c.topic_id, c.partition, count(*), sum(c.length), min(c.base_offset), min(o.created_at)
FROM chunks c JOIN objects o ON o.key = c.object_key
JOIN partitions p ON p.topic_id = c.topic_id AND p.partition = c.partition
WHERE c.level = 0
GROUP BY c.topic_id, c.partition;

UPDATE objects o SET unreferenced_at = now()
WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = o.key);
