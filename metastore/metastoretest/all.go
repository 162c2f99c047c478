package metastoretest

import (
	"testing"

	"github.com/stratalog/strata/metastore"
)

// Backend is what a metastore backend implements: the store and every
// interface the roles need beside it.
type Backend interface {
	metastore.Store
	metastore.ClusterStore
	metastore.CompactionStore
	metastore.GroupStore
}

// RunAll runs every suite of the package against one backend, one subtest
// each. It is the one entry point of a backend's conformance test; open
// returns a store over a fresh, empty metastore, as for Run.
func RunAll(t *testing.T, open func(t *testing.T) Backend) {
	t.Run("Store", func(t *testing.T) {
		Run(t, func(t *testing.T) metastore.Store { return open(t) })
	})
	t.Run("Cluster", func(t *testing.T) {
		RunCluster(t, func(t *testing.T) metastore.ClusterStore { return open(t) })
	})
	t.Run("Compaction", func(t *testing.T) {
		RunCompaction(t, func(t *testing.T) metastore.CompactionStore { return open(t) })
	})
	t.Run("Groups", func(t *testing.T) {
		RunGroups(t, func(t *testing.T) metastore.GroupStore { return open(t) })
	})
	t.Run("Scram", func(t *testing.T) {
		RunScram(t, func(t *testing.T) metastore.Store { return open(t) })
	})
	t.Run("ConsumerGroups", func(t *testing.T) { RunConsumerGroups(t, func(t *testing.T) ConsumerGroupBackend { return open(t) }) })
	t.Run("ClientQuotas", func(t *testing.T) {
		RunClientQuotas(t, func(t *testing.T) metastore.ClientQuotaStore { return open(t) })
	})
	t.Run("Share", func(t *testing.T) { RunShare(t, func(t *testing.T) metastore.ShareStore { return open(t) }) })
}
