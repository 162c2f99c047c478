package app

import (
	"strings"
	"testing"
	"time"
)

// TestValidateOrphanBounds: with ingest and the compactor in one process,
// an orphan grace that does not leave an upload time for its commit is
// refused; a process without ingest is not held to it.
func TestValidateOrphanBounds(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	DevDefaults(&c, t.TempDir())
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Compactor.OrphanGrace = c.Ingest.MaxCommitDelay + c.Ingest.CommitTimeout - time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "compactor.orphan-grace") {
		t.Errorf("an orphan grace shorter than an upload's wait for its commit: %v", err)
	}
	c.Roles = "compactor,reader"
	if err := c.Validate(); err != nil {
		t.Errorf("a node without ingest: %v", err)
	}
	// The tombstones outlive the grace, whatever the roles.
	c.Compactor.OrphanGrace = time.Hour
	c.Compactor.OrphanTombstoneRetention = time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tombstone retention") {
		t.Errorf("a tombstone retention no longer than the orphan grace: %v", err)
	}
}
