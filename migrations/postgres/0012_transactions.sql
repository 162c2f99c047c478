-- The durable state of transactional ids (Kafka transactions), one row per
-- id: the producer id and epoch InitProducerId handed out, the state of the
-- current or last transaction, its partitions and consumer groups, the
-- producer's timeout, and when the transaction began. Every write is a
-- compare-and-set on version, so that two coordinators (one deposed but not
-- yet aware of it) can never both apply a transition computed from the same
-- row. See docs/transactions.md.
CREATE TABLE transactions (
    transactional_id text        PRIMARY KEY,
    producer_id      bigint      NOT NULL,
    producer_epoch   smallint    NOT NULL CHECK (producer_epoch >= 0),
    state            text        NOT NULL,
    timeout_ms       integer     NOT NULL CHECK (timeout_ms > 0),
    partitions       jsonb       NOT NULL DEFAULT '[]',
    group_names      jsonb       NOT NULL DEFAULT '[]',
    -- TxnOffsetCommit's offsets, held until the transaction commits.
    pending_offsets  jsonb       NOT NULL DEFAULT '[]',
    start_time       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          bigint      NOT NULL CHECK (version > 0)
);
-- The coordinator's timeout sweep reads the open transactions only.
CREATE INDEX transactions_ongoing_idx ON transactions (start_time) WHERE state = 'Ongoing';
