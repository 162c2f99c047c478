-- Consumer groups and their committed offsets.
--
-- A group row holds what survives a coordinator restart: the protocol type,
-- the selected protocol and the generation. Members are not stored; they
-- rejoin a restarted coordinator. Committing offsets creates the row, so
-- groups that only store offsets are listed too.
CREATE TABLE consumer_groups (
    name           text        PRIMARY KEY,
    protocol_type  text        NOT NULL DEFAULT '',
    protocol       text        NOT NULL DEFAULT '',
    generation     integer     NOT NULL DEFAULT 0,
    state          text        NOT NULL DEFAULT 'Empty',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per (group, topic, partition): the last committed offset. Offsets
-- belong to their topic by name: deleting a topic deletes them.
CREATE TABLE group_offsets (
    group_name        text        NOT NULL REFERENCES consumer_groups (name) ON DELETE CASCADE,
    topic             text        NOT NULL REFERENCES topics (name) ON DELETE CASCADE,
    partition         integer     NOT NULL CHECK (partition >= 0),
    committed_offset  bigint      NOT NULL,
    leader_epoch      integer     NOT NULL DEFAULT -1,
    metadata          text        NOT NULL DEFAULT '',
    commit_time       timestamptz NOT NULL,
    PRIMARY KEY (group_name, topic, partition)
);

-- Deleting a topic finds its offsets through this index.
CREATE INDEX group_offsets_topic_idx ON group_offsets (topic);
