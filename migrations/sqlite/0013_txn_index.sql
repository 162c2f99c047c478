-- The index of transactions per partition, as in the PostgreSQL schema
-- version 13: the first offset of each producer's open transaction, and
-- the range of every aborted one up to its abort marker.

CREATE TABLE txn_open (
    topic_id     BLOB    NOT NULL,
    partition    INTEGER NOT NULL,
    producer_id  INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition, producer_id),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE TABLE txn_aborted (
    topic_id     BLOB    NOT NULL,
    partition    INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    producer_id  INTEGER NOT NULL,
    last_offset  INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition, first_offset),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX txn_aborted_last ON txn_aborted (topic_id, partition, last_offset);
