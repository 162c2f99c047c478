package txn

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	ended       *prometheus.CounterVec
	endSeconds  prometheus.Histogram
	timedOut    prometheus.Counter
	storeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_txn_ended_total",
			Help: "Transactions ended by this coordinator, by outcome (commit, abort).",
		}, []string{"outcome"}),
		endSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_txn_end_seconds",
			Help:    "Time to end a transaction: the marker object's PUT and the metastore transaction.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		timedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_txn_timed_out_total",
			Help: "Open transactions aborted by this coordinator because they outlived their timeout.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_txn_store_errors_total",
			Help: "Metastore operations of the transaction coordinator that failed, by operation.",
		}, []string{"op"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.ended, m.endSeconds, m.timedOut, m.storeErrors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("txn metrics: %w", err)
			}
		}
	}
	return m, nil
}
