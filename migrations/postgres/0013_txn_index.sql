-- The index of transactions per partition, kept by every segment commit:
-- txn_open holds the first offset of each producer's open transaction
-- (the last stable offset is the smallest, else the high watermark), and
-- txn_aborted the range of every aborted one, from its first offset to
-- its abort marker, which read_committed fetches return. A commit marker
-- deletes the open row; an abort marker moves it to txn_aborted.
-- Deleting a partition deletes its rows; the compactor drops aborted
-- ranges that end below the log start offset.

CREATE TABLE txn_open (
    topic_id     uuid    NOT NULL,
    partition    integer NOT NULL,
    producer_id  bigint  NOT NULL,
    first_offset bigint  NOT NULL,
    PRIMARY KEY (topic_id, partition, producer_id),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
);

CREATE TABLE txn_aborted (
    topic_id     uuid    NOT NULL,
    partition    integer NOT NULL,
    first_offset bigint  NOT NULL,
    producer_id  bigint  NOT NULL,
    last_offset  bigint  NOT NULL, -- the abort marker's offset
    PRIMARY KEY (topic_id, partition, first_offset),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
);

CREATE INDEX txn_aborted_last_idx ON txn_aborted (topic_id, partition, last_offset);
