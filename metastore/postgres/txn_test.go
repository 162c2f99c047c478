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

func TestTxnConformance(t *testing.T) {
	metastoretest.RunTxn(t, func(t *testing.T) metastore.TxnStore {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cfg := postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 16}
		s, err := postgres.New(ctx, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	})
}

func TestTxnEndConformance(t *testing.T) {
	metastoretest.RunTxnEnd(t, func(t *testing.T) metastoretest.Backend {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cfg := postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 16}
		s, err := postgres.New(ctx, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	})
}
