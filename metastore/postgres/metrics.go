package postgres

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	commitSeconds prometheus.Histogram
	transactions  *prometheus.CounterVec
	retries       *prometheus.CounterVec
	// resolvedCommits counts segment commits whose answer was lost and
	// that were found committed.
	resolvedCommits prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_metastore_commit_seconds",
			Help:    "Time to commit one segment to the metastore, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metastore_transactions_total",
			Help: "Metastore transactions attempted, by operation.",
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
		for _, c := range []prometheus.Collector{m.commitSeconds, m.transactions, m.retries, m.resolvedCommits} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register metastore metrics: %w", err)
			}
		}
	}
	return m, nil
}
