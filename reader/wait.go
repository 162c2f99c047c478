package reader

import (
	"context"
	"time"

	"github.com/stratalog/strata/internal/roleapi"
)

// Watch is one partition a long poll waits on: it is satisfied when the
// partition's high watermark passes Offset.
type Watch = roleapi.Watch

// Wait returns when the high watermark of any watched partition is above its
// Watch.Offset, when maxWait has passed, or when ctx ends. Local commits
// (Committed) and Notify wake it at once; it also re-reads the watched
// partitions from the metastore every Config.PollInterval, so that a missed
// wake-up costs latency only.
func (r *Reader) Wait(ctx context.Context, watches []Watch, maxWait time.Duration) {
	if len(watches) == 0 || maxWait <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()

	wake := make(chan struct{}, 1)
	states := make([]*partState, len(watches))
	for i, w := range watches {
		st := r.state(w.TopicID, w.Partition)
		st.mu.Lock()
		if st.waiters == nil {
			st.waiters = make(map[chan struct{}]struct{})
		}
		st.waiters[wake] = struct{}{}
		st.mu.Unlock()
		states[i] = st
	}
	r.metrics.waiting.Inc()
	defer func() {
		for _, st := range states {
			st.mu.Lock()
			delete(st.waiters, wake)
			st.mu.Unlock()
		}
		r.metrics.waiting.Dec()
	}()

	ticker := time.NewTicker(r.cfg.PollInterval)
	defer ticker.Stop()
	r.refreshStale(ctx, states)
	for {
		if ready(states, watches) {
			return
		}
		select {
		case <-wake:
		case <-ticker.C:
			r.refreshStale(ctx, states)
		case <-ctx.Done():
			return
		}
	}
}

// ready reports whether any watched partition's high watermark is past its
// watch offset.
func ready(states []*partState, watches []Watch) bool {
	for i, st := range states {
		st.mu.Lock()
		hwm := st.hwm
		st.mu.Unlock()
		if hwm > watches[i].Offset {
			return true
		}
	}
	return false
}

// refreshStale re-reads the partitions whose cached row is older than
// Config.MetadataTTL. A failed read is logged: the poll goes on.
func (r *Reader) refreshStale(ctx context.Context, states []*partState) {
	now := r.now()
	for _, st := range states {
		st.mu.Lock()
		stale := !st.loaded || now.Sub(st.fetched) >= r.cfg.MetadataTTL
		st.mu.Unlock()
		if !stale {
			continue
		}
		if _, err := r.refresh(ctx, st); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.logger.Debug("long poll refresh", "topic", st.key.TopicID, "partition", st.key.Partition, "err", err)
		}
	}
}
