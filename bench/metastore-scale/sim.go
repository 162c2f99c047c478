package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/bench"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

// assignLeaders spreads partitions over n nodes as the controller's leader
// assignment does from scratch (internal/cluster planLeaders with every
// partition unassigned): partitions in key order, each to the node below
// its quota that leads the fewest partitions of its topic, ties to the
// node furthest below its quota, then the lowest id. It returns, per node,
// the partitions it leads.
func assignLeaders(parts []metastore.PartitionKey, n int) [][]metastore.PartitionKey {
	parts = slices.Clone(parts)
	slices.SortFunc(parts, func(a, b metastore.PartitionKey) int {
		if c := bytes.Compare(a.TopicID[:], b.TopicID[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	deficit := make([]int, n)
	for j := range deficit {
		deficit[j] = len(parts) / n
		if j < len(parts)%n {
			deficit[j]++
		}
	}
	led := make([][]metastore.PartitionKey, n)
	var topic uuid.UUID
	tc := make([]int, n)
	for i, p := range parts {
		if i == 0 || p.TopicID != topic {
			topic = p.TopicID
			clear(tc)
		}
		best := -1
		for j := range n {
			if deficit[j] <= 0 {
				continue
			}
			if best < 0 || tc[j] < tc[best] || (tc[j] == tc[best] && deficit[j] > deficit[best]) {
				best = j
			}
		}
		deficit[best]--
		tc[best]++
		led[best] = append(led[best], p)
	}
	return led
}

// load is what one phase asks of every simulated node.
type load struct {
	rate        float64 // seals (commits) per second per node, at most
	minParts    int     // partitions per segment: uniform in [minParts, maxParts],
	maxParts    int     // at most what the node leads
	foreign     float64 // share of segments holding another node's partitions
	idempotent  float64 // share of chunks written by idempotent producers
	recordsPerB int32   // records (offsets) per batch
}

// phaseStats is what the nodes measured in the window of one phase.
type phaseStats struct {
	latency    bench.Histogram
	commits    atomic.Int64
	chunks     atomic.Int64
	batchesIdp atomic.Int64 // batches of idempotent producers committed
	failed     atomic.Int64 // CommitSegment calls that returned an error
	rejected   atomic.Int64 // chunks or batches the commit refused
	behind     atomic.Int64 // seals that started later than their slot
	firstErr   atomic.Value // string
}

// simNode is one simulated ingest node: its own metastore client (a
// postgres.Store with its own pool, as every strata process has), the
// partitions it leads, and its idempotent producers with their next
// sequence on each partition.
type simNode struct {
	id        int
	store     *postgres.Store
	led       []metastore.PartitionKey
	producers []int64
	seq       map[metastore.ProducerKey]int32
	rng       *rand.Rand
	segments  int
}

// run seals and commits segments until ctx ends: one commit at a time, in
// seal order, at most l.rate a second. A commit that takes longer than the
// interval delays the next seal, as a real node's seal waits for nothing in
// flight; the node does not catch up in a burst. Commits that start within
// [from, to) are recorded in st.
func (n *simNode) run(ctx context.Context, l load, all [][]metastore.PartitionKey, from, to time.Time, st *phaseStats) {
	interval := time.Duration(float64(time.Second) / l.rate)
	// Nodes start spread over one interval, as real nodes' seals are.
	next := time.Now().Add(time.Duration(n.rng.Int64N(int64(interval))))
	for {
		wait := time.Until(next)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		start := time.Now()
		inWindow := !start.Before(from) && start.Before(to)
		if inWindow && wait < -interval/10 {
			st.behind.Add(1)
		}
		seg, advance := n.segment(l, all)
		res, err := n.store.CommitSegment(context.WithoutCancel(ctx), seg)
		took := time.Since(start)
		if err == nil {
			n.check(seg, res, advance, inWindow, st)
		}
		if inWindow {
			st.latency.Record(took)
			if err != nil {
				st.failed.Add(1)
				st.firstErr.CompareAndSwap(nil, err.Error())
			} else {
				st.commits.Add(1)
				st.chunks.Add(int64(len(seg.Chunks)))
			}
		}
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
	}
}

// segment builds the next segment: partitions this node leads, or, for a
// share l.foreign of segments, partitions another node leads (a producer
// whose metadata is stale). advance lists the sequence moves to apply once
// the commit has taken the batches.
func (n *simNode) segment(l load, all [][]metastore.PartitionKey) (metastore.SegmentSpec, map[metastore.ProducerKey]int32) {
	pool := n.led
	if l.foreign > 0 && n.rng.Float64() < l.foreign && len(all) > 1 {
		other := n.rng.IntN(len(all) - 1)
		if other >= n.id {
			other++
		}
		pool = all[other]
	}
	k := l.minParts
	if l.maxParts > l.minParts {
		k += n.rng.IntN(l.maxParts - l.minParts + 1)
	}
	k = min(k, len(pool))
	// k distinct partitions of pool, by a partial shuffle of their indices.
	idx := n.rng.Perm(len(pool))[:k]
	n.segments++
	seg := metastore.SegmentSpec{
		ObjectKey: fmt.Sprintf("%08x/bench/node-%d/%d", n.rng.Uint32(), n.id, n.segments),
		Chunks:    make([]metastore.ChunkSpec, 0, k),
	}
	advance := map[metastore.ProducerKey]int32{}
	now := time.Now().UnixMilli()
	var at int64
	for _, i := range idx {
		p := pool[i]
		b := metastore.BatchMeta{OffsetCount: l.recordsPerB, MaxTimestamp: now, ProducerID: metastore.NoProducerID}
		if len(n.producers) > 0 && n.rng.Float64() < l.idempotent {
			pk := metastore.ProducerKey{ProducerID: n.producers[n.rng.IntN(len(n.producers))], TopicID: p.TopicID, Partition: p.Partition}
			b.ProducerID = pk.ProducerID
			b.BaseSequence = n.seq[pk]
			advance[pk] = b.BaseSequence + l.recordsPerB
		}
		const length, raw = 1500, 6000 // a chunk of about 6 KB of records, compressed 4:1
		seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{
			TopicID: p.TopicID, Partition: p.Partition, Start: at, Length: length, RawLength: raw,
			Batches: []metastore.BatchMeta{b},
		})
		at += length
	}
	seg.ObjectSize = at + 1024 // the footer
	return seg, advance
}

// check counts what the commit refused and moves the producers' sequences
// for the batches it took.
func (n *simNode) check(seg metastore.SegmentSpec, res []metastore.ChunkResult, advance map[metastore.ProducerKey]int32, inWindow bool, st *phaseStats) {
	for i, r := range res {
		c := seg.Chunks[i]
		if r.Err != nil {
			if inWindow {
				st.rejected.Add(1)
				st.firstErr.CompareAndSwap(nil, r.Err.Error())
			}
			continue
		}
		for j, br := range r.Batches {
			b := c.Batches[j]
			if br.Err != nil {
				if inWindow {
					st.rejected.Add(1)
					st.firstErr.CompareAndSwap(nil, br.Err.Error())
				}
				continue
			}
			if b.ProducerID != metastore.NoProducerID {
				pk := metastore.ProducerKey{ProducerID: b.ProducerID, TopicID: c.TopicID, Partition: c.Partition}
				n.seq[pk] = advance[pk]
				if inWindow {
					st.batchesIdp.Add(1)
				}
			}
		}
	}
}

// runPhase runs every node at load l for warmup plus window and returns
// what they measured in the window. Commits in flight at the end finish
// before it returns.
func runPhase(ctx context.Context, nodes []*simNode, all [][]metastore.PartitionKey, l load, warmup, window time.Duration) *phaseStats {
	st := &phaseStats{}
	from := time.Now().Add(warmup)
	to := from.Add(window)
	ctx, cancel := context.WithDeadline(ctx, to)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.run(ctx, l, all, from, to, st) })
	}
	wg.Wait()
	return st
}
