package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/metastoretest"
)

func TestClusterConformance(t *testing.T) {
	metastoretest.RunCluster(t, func(t *testing.T) metastore.ClusterStore {
		s, err := New(t.Context(), Config{Path: filepath.Join(t.TempDir(), "metastore.db")}, nil, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}
