-- Share groups (KIP-932). One row per share partition: its start offset
-- and its in-flight records (delivery state, delivery counts, holders and
-- their lock ends) in one value that internal/share encodes. A row whose
-- start_offset is -1 was created to be locked and never written. The
-- rows are not tied to the topic: a deleted topic's rows are left for
-- DeleteShareGroupOffsets, as Kafka leaves them.

CREATE TABLE share_partitions (
    group_id     text     NOT NULL,
    topic_id     uuid     NOT NULL,
    partition    integer  NOT NULL,
    start_offset bigint   NOT NULL,
    state        bytea    NOT NULL,
    PRIMARY KEY (group_id, topic_id, partition)
);

-- Group configs of share groups (share.record.lock.duration.ms, ...), set
-- by IncrementalAlterConfigs on resource type GROUP.
CREATE TABLE share_group_configs (
    group_id text NOT NULL,
    name     text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (group_id, name)
);
