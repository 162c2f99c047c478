package sqlite

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	opSeconds *prometheus.HistogramVec
	opErrors  *prometheus.CounterVec
	chunks    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		opSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_metastore_sqlite_operation_seconds",
			Help:    "Duration of SQLite metastore operations.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100µs .. 6.5s
		}, []string{"op"}),
		opErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metastore_sqlite_operation_errors_total",
			Help: "SQLite metastore operations that returned an error, expected ones (unknown topic, ...) included.",
		}, []string{"op"}),
		chunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_metastore_sqlite_committed_chunks_total",
			Help: "Chunk rows written by segment commits.",
		}),
	}
	var err error
	if m.opSeconds, err = register(reg, m.opSeconds); err != nil {
		return nil, err
	}
	if m.opErrors, err = register(reg, m.opErrors); err != nil {
		return nil, err
	}
	if m.chunks, err = register(reg, m.chunks); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector already
// registered, so that a store reopened on the same registry keeps counting.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register sqlite metastore metrics: %w", err)
}
