package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/metastore/metastoretest"
)

func TestConformance(t *testing.T) {
	metastoretest.RunAll(t, func(t *testing.T) metastoretest.Backend {
		s, err := New(t.Context(), Config{Path: filepath.Join(t.TempDir(), "metastore.db")}, nil, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}
