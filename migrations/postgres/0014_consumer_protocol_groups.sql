-- The state of consumer-protocol (KIP-848) groups that a coordinator taking
-- a group over needs so that no member starts over: the group epoch, the
-- target assignment and every member's epoch, subscription and owned
-- partitions, encoded by the coordinator as JSON in data. One row per
-- group, belonging to its consumer_groups row: deleting the group deletes
-- it. Writes name the group's lease, as every group write does.
CREATE TABLE consumer_protocol_groups (
    name       text        PRIMARY KEY REFERENCES consumer_groups (name) ON DELETE CASCADE,
    epoch      integer     NOT NULL CHECK (epoch >= 0),
    state      text        NOT NULL,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
