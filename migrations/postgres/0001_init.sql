-- Strata metastore, PostgreSQL schema version 1.
--
-- Offsets are bigint, partitions integer, producer epochs smallint, as in the
-- Kafka protocol. Timestamps from records are milliseconds since the epoch.

CREATE TABLE topics (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    partitions  integer     NOT NULL CHECK (partitions > 0),
    configs     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per partition. Commits lock these rows (SELECT ... FOR UPDATE, in
-- topic id then partition order), which serialises the commits of a partition.
CREATE TABLE partitions (
    topic_id          uuid     NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    partition         integer  NOT NULL CHECK (partition >= 0),
    next_offset       bigint   NOT NULL DEFAULT 0,
    log_start_offset  bigint   NOT NULL DEFAULT 0,
    leader_node       integer  NOT NULL DEFAULT -1,
    leader_epoch      integer  NOT NULL DEFAULT 0,
    -- Largest record timestamp committed so far; see chunks.max_timestamp_run.
    max_timestamp     bigint   NOT NULL DEFAULT -1,
    PRIMARY KEY (topic_id, partition),
    CHECK (log_start_offset <= next_offset)
);

-- Segment objects known to the metastore. Rows outlive their chunks: the
-- compactor deletes an object, and then its row, once nothing references it.
CREATE TABLE objects (
    key         text        PRIMARY KEY,
    size        bigint      NOT NULL,
    level       smallint    NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The chunk index: offsets [base_offset, end_offset) of one partition live in
-- bytes [start, start+length) of object_key. The chunks of a partition tile
-- [log_start_offset, next_offset) without gap or overlap.
CREATE TABLE chunks (
    topic_id       uuid      NOT NULL,
    partition      integer   NOT NULL,
    base_offset    bigint    NOT NULL,
    end_offset     bigint    NOT NULL,
    object_key     text      NOT NULL,
    level          smallint  NOT NULL,
    start          bigint    NOT NULL,
    length         bigint    NOT NULL,
    raw_length     bigint    NOT NULL,
    batch_count    integer   NOT NULL,
    max_timestamp  bigint    NOT NULL,
    -- Running maximum of max_timestamp over the partition's chunks up to and
    -- including this one: non-decreasing in offset order, so the first chunk
    -- whose max_timestamp >= ts is found by one index range scan.
    max_timestamp_run bigint NOT NULL,
    -- Indices of batches in the chunk that are not part of the log
    -- (duplicates of earlier batches, rejected sequences).
    skip           integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (topic_id, partition, base_offset),
    CHECK (end_offset > base_offset)
);

-- "Chunks of a partition whose end_offset > X, in offset order" (fetch).
CREATE INDEX chunks_end_offset_idx ON chunks (topic_id, partition, end_offset);
-- "First chunk whose max_timestamp >= ts" (ListOffsets by timestamp).
CREATE INDEX chunks_timestamp_idx ON chunks (topic_id, partition, max_timestamp_run, base_offset);
-- "Is this object still referenced" (garbage collection).
CREATE INDEX chunks_object_key_idx ON chunks (object_key);

-- Idempotent producer state per producer and partition. recent holds the last
-- few committed batches, oldest first, as [[first_seq, last_seq, base_offset], ...].
CREATE TABLE producer_state (
    producer_id  bigint      NOT NULL,
    topic_id     uuid        NOT NULL,
    partition    integer     NOT NULL,
    epoch        smallint    NOT NULL,
    recent       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (producer_id, topic_id, partition)
);
CREATE INDEX producer_state_partition_idx ON producer_state (topic_id, partition);

-- Producer ids handed out by InitProducerId; never reused.
CREATE SEQUENCE producer_ids AS bigint START WITH 1 MINVALUE 0;
