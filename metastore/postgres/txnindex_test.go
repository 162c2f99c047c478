package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/metastoretest"
	"github.com/stratalog/strata/metastore/postgres"
)

func TestTxnIndexConformance(t *testing.T) {
	metastoretest.RunTxnIndex(t, func(t *testing.T) metastore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 4}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
