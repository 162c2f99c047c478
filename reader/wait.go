package reader

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
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
		if r.ready(ctx, states, watches) {
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

// ready reports whether any watched partition's high watermark (its last
// stable offset, for a Committed watch) is past its watch offset.
func (r *Reader) ready(ctx context.Context, states []*partState, watches []Watch) bool {
	for i, st := range states {
		if watches[i].Committed {
			if r.stableAbove(ctx, st, watches[i].Offset) {
				return true
			}
			continue
		}
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
// Config.MetadataTTL: one query per topic when a topic has several, so that
// a long poll or a fetch of many quiet partitions costs the metastore a
// query per topic rather than per partition. A failed read is logged: the
// poll goes on, and reads fall back to their own queries.
func (r *Reader) refreshStale(ctx context.Context, states []*partState) {
	now := r.now()
	var order []uuid.UUID
	byTopic := map[uuid.UUID][]*partState{}
	for _, st := range states {
		st.mu.Lock()
		stale := !st.loaded || now.Sub(st.fetched) >= r.cfg.MetadataTTL
		st.mu.Unlock()
		if !stale {
			continue
		}
		id := st.key.TopicID
		if byTopic[id] == nil {
			order = append(order, id)
		}
		byTopic[id] = append(byTopic[id], st)
	}
	for _, id := range order {
		sts := byTopic[id]
		if len(sts) == 1 {
			if _, err := r.refresh(ctx, sts[0]); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.logger.Debug("refresh", "topic", id, "partition", sts[0].key.Partition, "err", err)
			}
			continue
		}
		at := r.now()
		rows, err := r.store.Partitions(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.logger.Debug("refresh", "topic", id, "partitions", len(sts), "err", err)
			continue
		}
		byNum := make(map[int32]metastore.Partition, len(rows))
		for _, p := range rows {
			byNum[p.Partition] = p
		}
		for _, st := range sts {
			if p, ok := byNum[st.key.Partition]; ok {
				st.update(p, at)
			}
		}
	}
}

// Freshen re-reads the cached offsets of the given partitions that are
// older than Config.MetadataTTL, one query per topic, so that the reads and
// AtEnd calls that follow find them fresh: a fetch of 1,000 quiet
// partitions then costs one metastore query, not 1,000.
func (r *Reader) Freshen(ctx context.Context, parts []Watch) {
	states := make([]*partState, len(parts))
	for i, p := range parts {
		states[i] = r.state(p.TopicID, p.Partition)
	}
	r.refreshStale(ctx, states)
}
