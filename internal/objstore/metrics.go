package objstore

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Result label values of strata_objstore_requests_total.
const (
	resultOK       = "ok"
	resultNotFound = "not_found"
	resultError    = "error"
)

var allOps = [...]string{OpPut, OpGet, OpGetRange, OpDelete, OpList}

// opMetrics holds the label children of one operation, resolved once so that
// a request costs no label lookups.
type opMetrics struct {
	ok, notFound, failed prometheus.Counter
	bytes                prometheus.Counter
	seconds              prometheus.Observer
}

type metricsStore struct {
	inner Store
	ops   map[string]*opMetrics
}

// NewMetrics returns a Store that records, for every call to inner:
//
//	strata_objstore_requests_total{backend,op,result}  result: ok, not_found, error
//	strata_objstore_bytes_total{backend,op}            bytes put or returned
//	strata_objstore_request_seconds{backend,op}        duration histogram
//
// with op one of put, get, get_range, delete, list. Several stores (with
// different backend labels) may share one registerer. A nil reg registers
// nothing.
func NewMetrics(inner Store, reg prometheus.Registerer, backend string) Store {
	requests := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_objstore_requests_total",
		Help: "Object store requests by operation and result (ok, not_found, error).",
	}, []string{"backend", "op", "result"}))
	bytes := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_objstore_bytes_total",
		Help: "Object bytes uploaded (put) or downloaded (get, get_range).",
	}, []string{"backend", "op"}))
	seconds := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "strata_objstore_request_seconds",
		Help:    "Duration of object store requests.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms to 33 s
	}, []string{"backend", "op"}))

	m := &metricsStore{inner: inner, ops: make(map[string]*opMetrics, len(allOps))}
	for _, op := range allOps {
		m.ops[op] = &opMetrics{
			ok:       requests.WithLabelValues(backend, op, resultOK),
			notFound: requests.WithLabelValues(backend, op, resultNotFound),
			failed:   requests.WithLabelValues(backend, op, resultError),
			bytes:    bytes.WithLabelValues(backend, op),
			seconds:  seconds.WithLabelValues(backend, op),
		}
	}
	return m
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *metricsStore) done(op string, start time.Time, n int, err error) {
	om := m.ops[op]
	om.seconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		om.ok.Inc()
		if n > 0 {
			om.bytes.Add(float64(n))
		}
	case errors.Is(err, ErrNotFound):
		om.notFound.Inc()
	default:
		om.failed.Inc()
	}
}

func (m *metricsStore) Put(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := m.inner.Put(ctx, key, data)
	m.done(OpPut, start, len(data), err)
	return err
}

func (m *metricsStore) Get(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	b, err := m.inner.Get(ctx, key)
	m.done(OpGet, start, len(b), err)
	return b, err
}

func (m *metricsStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	start := time.Now()
	b, err := m.inner.GetRange(ctx, key, off, n)
	m.done(OpGetRange, start, len(b), err)
	return b, err
}

func (m *metricsStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := m.inner.Delete(ctx, key)
	m.done(OpDelete, start, 0, err)
	return err
}

func (m *metricsStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	start := time.Now()
	err := m.inner.List(ctx, prefix, fn)
	m.done(OpList, start, 0, err)
	return err
}
