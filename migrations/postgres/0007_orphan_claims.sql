-- Claimed orphans.
--
-- The compactor deletes an object that has no objects row only after it
-- claimed the key: one INSERT of a row of level -1 per key, ON CONFLICT DO
-- NOTHING. A commit (or swap) inserts the same primary key, so of the two
-- the first wins, whatever the clocks of the nodes and of the object store:
-- a later commit fails on the key, a later claim leaves the key alone.
--
-- The claimed rows are tombstones: they stay after the object is deleted,
-- so that a commit delayed past the deletion still fails, and are pruned
-- once created_at (the claim) is older than the tombstone retention.
-- They are never marked unreferenced: the collection of unreferenced
-- objects deletes the rows it collects, and a tombstone's row must stay.

ALTER TABLE objects ADD CONSTRAINT objects_level_check CHECK (level >= -1);
ALTER TABLE objects ADD CONSTRAINT objects_claim_unmarked_check CHECK (level >= 0 OR unreferenced_at IS NULL);

CREATE INDEX objects_claimed_idx ON objects (created_at) WHERE level = -1;
