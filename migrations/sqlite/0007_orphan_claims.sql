-- Claimed orphans, as in the PostgreSQL schema version 6: before the
-- compactor deletes an object without an objects row it inserts a row of
-- level -1 for its key, which a later commit of the key fails on. The rows
-- stay after the object is deleted, as tombstones, and are pruned once
-- created_at (the claim) is older than the tombstone retention. They are
-- never marked unreferenced: the collection of unreferenced objects would
-- delete their rows. SQLite cannot add a CHECK to a table, so a trigger
-- refuses the mark.

CREATE INDEX objects_claimed ON objects (created_at) WHERE level = -1;

CREATE TRIGGER objects_claim_unmarked BEFORE UPDATE OF unreferenced_at ON objects
    WHEN NEW.level < 0 AND NEW.unreferenced_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a claimed orphan is never marked unreferenced');
END;
