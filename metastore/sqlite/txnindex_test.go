package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/metastoretest"
)

func TestTxnIndexConformance(t *testing.T) {
	metastoretest.RunTxnIndex(t, func(t *testing.T) metastore.Store {
		s, err := New(t.Context(), Config{Path: filepath.Join(t.TempDir(), "metastore.db")}, nil, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}
