package metastore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserveCountsOnlyFailures(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []error{
		nil,
		fmt.Errorf("topic %q: %w", "x", ErrUnknownTopic),
		fmt.Errorf("commit: %w", ErrInvalidProducerEpoch),
		fmt.Errorf("renew: %w", context.Canceled),
	} {
		m.Observe("op", time.Now(), &e)
	}
	if got := testutil.ToFloat64(m.OperationErrors.WithLabelValues("op")); got != 0 {
		t.Errorf("expected answers counted as %v errors", got)
	}
	for _, e := range []error{errors.New("dial tcp: connection refused"), context.DeadlineExceeded} {
		m.Observe("op", time.Now(), &e)
	}
	if got := testutil.ToFloat64(m.OperationErrors.WithLabelValues("op")); got != 2 {
		t.Errorf("%v errors counted, want 2", got)
	}
	if got := testutil.CollectAndCount(m.OperationSeconds); got != 1 {
		t.Errorf("%d duration series, want 1", got)
	}
}
