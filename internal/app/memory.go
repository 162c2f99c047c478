package app

import (
	"os"
	"runtime/debug"

	"github.com/stratalog/strata/internal/cluster"
)

// memoryBudgets is the sum of the byte budgets of the roles a node runs:
// the reader's cache (every node has a reader), ingest's open and uploading
// segments, and the compactor's merge, key-map and object-cache memory.
func memoryBudgets(cfg Config, roles cluster.Role) int64 {
	sum := cfg.Reader.CacheBytes
	if roles.Has(cluster.RoleIngest) {
		sum += cfg.Ingest.MemoryBudget
	}
	if roles.Has(cluster.RoleCompactor) {
		sum += cfg.Compactor.MaxMergeRawBytes + cfg.Compactor.KeyMapMaxBytes + cfg.Compactor.ObjectCacheBytes
	}
	return sum
}

// setMemoryLimit gives the Go runtime a soft memory limit of the node's
// budgets plus Config.MemoryOverhead, unless GOMEMLIMIT is set or the
// overhead is 0. Without it the heap may grow to twice what is live before
// a collection (GOGC=100), so a node whose budgets are full would use
// about twice their sum; with it the collector works harder near the limit
// instead. It returns the limit set, or 0.
func setMemoryLimit(cfg Config, roles cluster.Role) int64 {
	if cfg.MemoryOverhead <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := memoryBudgets(cfg, roles) + cfg.MemoryOverhead
	debug.SetMemoryLimit(limit)
	return limit
}
