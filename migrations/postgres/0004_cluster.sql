-- Cluster membership and partition leadership.
--
-- Lease times are judged by the database clock (now()), so that nodes with
-- skewed clocks agree on which nodes are live and who the controller is.

-- The node registry. A node is live while expires_at is in the future; each
-- heartbeat pushes it forward. instance is a random id chosen by each
-- process at start-up: a process may take over a node id only when the row
-- is its own or its lease has expired.
CREATE TABLE cluster_nodes (
    node_id       integer     PRIMARY KEY CHECK (node_id >= 0),
    instance      uuid        NOT NULL,
    host          text        NOT NULL,
    port          integer     NOT NULL CHECK (port BETWEEN 0 AND 65535),
    rack          text        NOT NULL DEFAULT '',
    roles         text[]      NOT NULL DEFAULT '{}',
    registered_at timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- The controller lease: one row. term goes up whenever another instance
-- takes the lease; leader moves are written only by the instance holding a
-- live lease of the term it names, and in the same transaction bump
-- leaders_version, which nodes poll to know when to reload the leaders.
CREATE TABLE cluster_controller (
    id              smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    node_id         integer     NOT NULL DEFAULT -1,
    instance        uuid,
    term            bigint      NOT NULL DEFAULT 0,
    expires_at      timestamptz NOT NULL DEFAULT 'epoch',
    leaders_version bigint      NOT NULL DEFAULT 0
);
INSERT INTO cluster_controller DEFAULT VALUES;

-- Leader epoch history: epoch began when the partition's next offset was
-- start_offset. The end of an epoch is the start of the next one, or the
-- high watermark for the current epoch (OffsetForLeaderEpoch). Epoch 0, the
-- partition's epoch before its first leader, has no row.
CREATE TABLE leader_epochs (
    topic_id     uuid    NOT NULL,
    partition    integer NOT NULL,
    epoch        integer NOT NULL CHECK (epoch > 0),
    start_offset bigint  NOT NULL CHECK (start_offset >= 0),
    PRIMARY KEY (topic_id, partition, epoch),
    FOREIGN KEY (topic_id, partition) REFERENCES partitions (topic_id, partition) ON DELETE CASCADE
);
