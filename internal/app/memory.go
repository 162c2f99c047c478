package app

import (
	"os"
	"runtime/debug"

	"github.com/stratalog/strata/internal/cluster"
)

// memoryBudgets is the sum of the byte budgets of the roles a node runs:
// the Kafka front door's requests being read and handled (every node has
// it), the reader's cache (every node has a reader), ingest's open and
// uploading segments, and the compactor's merge, key-map and object-cache
// memory.
func memoryBudgets(cfg Config, roles cluster.Role) int64 {
	sum := cfg.Kafka.MaxQueuedRequestBytes + cfg.Reader.CacheBytes
	if roles.Has(cluster.RoleIngest) {
		sum += cfg.Ingest.MemoryBudget
	}
	if roles.Has(cluster.RoleCompactor) {
		sum += cfg.Compactor.MaxMergeRawBytes + cfg.Compactor.KeyMapMaxBytes + cfg.Compactor.ObjectCacheBytes
	}
	return sum
}

// outsideGo is the part of Config.MemoryOverhead kept for resident memory
// that the Go runtime does not count against its limit: the pages of the
// executable itself (about 55 MB, mostly text).
const outsideGo = 64 << 20

// setMemoryLimit gives the Go runtime a soft memory limit of the node's
// budgets plus Config.MemoryOverhead, less outsideGo (or half the overhead
// when that is smaller), so that the process's RSS, not only the Go
// runtime's memory, stays within budgets plus overhead. It sets nothing
// when GOMEMLIMIT is set or the overhead is 0. Without a limit the heap may
// grow to twice what is live before a collection (GOGC=100), so a node
// whose budgets are full would use about twice their sum; with it the
// collector works harder near the limit instead. It returns the limit set,
// or 0.
func setMemoryLimit(cfg Config, roles cluster.Role) int64 {
	if cfg.MemoryOverhead <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := memoryBudgets(cfg, roles) + cfg.MemoryOverhead - min(outsideGo, cfg.MemoryOverhead/2)
	debug.SetMemoryLimit(limit)
	return limit
}
