package postgres

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/metastore"
)

// metrics are the metrics every backend exports (metastore.Metrics) and
// those of PostgreSQL alone.
type metrics struct {
	*metastore.Metrics
	// transactions counts transaction attempts, retries included.
	transactions *prometheus.CounterVec
	retries      *prometheus.CounterVec
	// resolvedCommits counts segment commits whose answer was lost and
	// that were found committed.
	resolvedCommits prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	shared, err := metastore.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &metrics{
		Metrics: shared,
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metastore_transactions_total",
			Help: "Metastore transactions attempted, by operation, retries included.",
		}, []string{"op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metastore_retries_total",
			Help: "Metastore transactions retried after a serialization failure or deadlock, by operation.",
		}, []string{"op"}),
		resolvedCommits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_metastore_commits_resolved_total",
			Help: "Segment commits whose answer the connection lost and that were found committed.",
		}),
	}
	if reg != nil {
		if m.transactions, err = metastore.Register(reg, m.transactions); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		if m.retries, err = metastore.Register(reg, m.retries); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		if m.resolvedCommits, err = metastore.Register(reg, m.resolvedCommits); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	return m, nil
}
