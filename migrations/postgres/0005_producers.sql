-- Producer ids handed out by InitProducerId, until they expire. A producer
-- registered here starts every partition at sequence 0; one that is not
-- (expired, or from before this table) is taken at any sequence, as Kafka
-- takes a producer whose state it no longer holds. Expiry removes the row
-- and the producer's state on every partition together.
CREATE TABLE producers (
    producer_id  bigint      PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now()
);
