package metastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the metrics every backend exports under the same names, so
// that a dashboard or an alert built on `strata dev` (SQLite) works
// unchanged on `strata serve` (PostgreSQL). A backend may add metrics of
// its own beside them (PostgreSQL's retries, for one).
type Metrics struct {
	// OperationSeconds is the duration of each call of the Store, by
	// operation (the method's name in snake case), retries included.
	OperationSeconds *prometheus.HistogramVec
	// OperationErrors counts calls that failed for a reason worth an
	// alert; the answers a caller expects and handles (an unknown topic,
	// a fenced producer, a lost lease: see Expected) are not counted.
	OperationErrors *prometheus.CounterVec
	// CommitSeconds is the duration of CommitSegment, retries included:
	// the metastore's share of a produce acknowledgement.
	CommitSeconds prometheus.Histogram
	// CommittedChunks counts the chunk rows segment commits wrote.
	CommittedChunks prometheus.Counter
}

// NewMetrics creates the shared metrics and registers them on reg (which
// may be nil). A store reopened on the same registry gets the collectors
// already registered, so its counts carry on.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		OperationSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_metastore_operation_seconds",
			Help:    "Duration of metastore operations, by operation, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100µs .. 6.5s
		}, []string{"op"}),
		OperationErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metastore_operation_errors_total",
			Help: "Metastore operations that failed, by operation; expected answers such as an unknown topic or a fenced producer are not counted.",
		}, []string{"op"}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_metastore_commit_seconds",
			Help:    "Time to commit one segment to the metastore, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		CommittedChunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_metastore_committed_chunks_total",
			Help: "Chunk rows written by segment commits.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.OperationSeconds, err = Register(reg, m.OperationSeconds); err != nil {
		return nil, err
	}
	if m.OperationErrors, err = Register(reg, m.OperationErrors); err != nil {
		return nil, err
	}
	if m.CommitSeconds, err = Register(reg, m.CommitSeconds); err != nil {
		return nil, err
	}
	if m.CommittedChunks, err = Register(reg, m.CommittedChunks); err != nil {
		return nil, err
	}
	return m, nil
}

// Observe records one operation's duration and, unless Expected, its
// failure. Use it deferred with the operation's named error result:
//
//	defer s.metrics.Observe("create_topic", time.Now(), &err)
func (m *Metrics) Observe(op string, start time.Time, err *error) {
	m.OperationSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if *err != nil && !Expected(*err) {
		m.OperationErrors.WithLabelValues(op).Inc()
	}
}

// expected are the errors of the Store contract that callers handle as
// answers: they say something about the request or the cluster's state,
// not about the metastore's health.
var expected = []error{
	ErrTopicExists, ErrInvalidTopic, ErrUnknownTopic, ErrUnknownPartition, ErrInvalidPartitions,
	ErrOffsetOutOfRange, ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrUnknownProducerID,
	ErrUnknownGroup, ErrNotGroupCoordinator, ErrNodeIDInUse, ErrNodeNotRegistered, ErrNotController,
	ErrChunksChanged, ErrInvalidSwap, ErrObjectClaimed, ErrObjectExists,
	// A caller that went away (a closed connection, a stopping node) is
	// not the metastore's fault; a deadline that passed may be, and counts.
	context.Canceled,
}

// Expected reports whether err is one of the Store's documented answers
// (an unknown topic, a fenced producer, a lost lease, ...) rather than a
// failure of the metastore itself.
func Expected(err error) bool {
	for _, e := range expected {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Register registers c on reg, or returns the identical collector already
// registered there.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
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
	return c, fmt.Errorf("register metastore metrics: %w", err)
}
