-- Consumer group coordinator leases, and the members of each group's
-- current generation.
--
-- A node coordinates a group only while it holds the group's lease: one row
-- per group, judged by the database clock (now()) like the node and
-- controller leases. epoch goes up with every acquisition and is never
-- reused; every write of a group (offset commits, the group row, deletions)
-- names the holder's instance and epoch and is refused, in the same
-- statement, unless that lease is live. A coordinator paused past its lease
-- or deposed by another node therefore writes nothing. Rows are kept after a
-- release (expires_at in the past) and after the group is deleted, so that
-- epochs keep rising.
CREATE TABLE group_leases (
    group_name text        PRIMARY KEY,
    node_id    integer     NOT NULL,
    instance   uuid        NOT NULL,
    epoch      bigint      NOT NULL CHECK (epoch > 0),
    expires_at timestamptz NOT NULL
);
-- A node renews all its leases with one statement, found by instance.
CREATE INDEX group_leases_instance_idx ON group_leases (instance);

-- What a coordinator taking a group over needs to continue the current
-- generation without making its members rejoin: the leader and the members
-- (ids, static instance ids, client, timeouts, protocols and assignments),
-- as a JSON array, written when a generation completes its join and when it
-- becomes Stable.
ALTER TABLE consumer_groups
    ADD COLUMN leader  text  NOT NULL DEFAULT '',
    ADD COLUMN members jsonb NOT NULL DEFAULT '[]';
