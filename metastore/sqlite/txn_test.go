package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/metastoretest"
)

func TestTxnConformance(t *testing.T) {
	metastoretest.RunTxn(t, func(t *testing.T) metastore.TxnStore {
		s, err := New(t.Context(), Config{Path: filepath.Join(t.TempDir(), "metastore.db")}, nil, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(s.Close)
		return s
	})
}

func TestTxnEndConformance(t *testing.T) {
	metastoretest.RunTxnEnd(t, func(t *testing.T) metastoretest.Backend {
		s, err := New(t.Context(), Config{Path: filepath.Join(t.TempDir(), "metastore.db")}, nil, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(s.Close)
		return s
	})
}
