package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stratalog/strata/internal/bench"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

// The compactor's defaults (compactor/config.go) that shape its metastore
// work: partitions merged per round, the size of a level-1 object and of
// its chunks.
const (
	partitionsPerRound = 1000
	targetObjectBytes  = 64 << 20
	chunkRawBytes      = 1 << 20
)

// compactionStats is what one compaction cycle did to the metastore.
type compactionStats struct {
	rounds, objects, partitions int
	rowsBefore, rowsAfter       metastore.CompactionStats
	swap                        bench.Histogram // one SwapObject
	took                        time.Duration
	changed                     int // swaps left out: the partition moved on under them
}

// compactCycle drives the metastore side of a compaction cycle without
// object traffic: rounds of the compactor's Backlogs, then, for each due
// partition, its level-0 chunk rows (ChunksFrom), swapped for the rows of
// a level-1 object with SwapObject, partitions packed into objects of
// targetObjectBytes and cut into chunks of chunkRawBytes, as the compactor
// writes them. Every partition with a level-0 backlog is due (the age
// threshold at zero), as after compactor.max-level0-age. It stops when a
// round finds no backlog older than the cycle, or at deadline.
func compactCycle(ctx context.Context, s *postgres.Store, deadline time.Time) (*compactionStats, error) {
	cs := &compactionStats{}
	var err error
	if cs.rowsBefore, err = s.CompactionStats(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	for time.Now().Before(deadline) {
		// Only backlogs older than the cycle: what arrives during it is
		// the next cycle's.
		due := metastore.MergeThresholds{MinBytes: 1 << 62, MinChunks: 1 << 30, MaxAge: time.Since(start)}
		bls, err := s.Backlogs(ctx, due, partitionsPerRound)
		if err != nil {
			return nil, err
		}
		if len(bls) == 0 {
			break
		}
		cs.rounds++
		var swaps []metastore.ChunkSwap
		var objBytes int64
		flush := func() error {
			if len(swaps) == 0 {
				return nil
			}
			// Every swap of an object names its final size, known once
			// the object is packed.
			key := fmt.Sprintf("%08x/bench-l1/%d", time.Now().UnixNano()&0xffffffff, cs.objects)
			for i := range swaps {
				swaps[i].ObjectKey, swaps[i].ObjectSize = key, objBytes
			}
			t := time.Now()
			res, err := s.SwapObject(ctx, swaps)
			cs.swap.Record(time.Since(t))
			if err != nil {
				return err
			}
			cs.objects++
			for _, r := range res {
				if r != nil {
					cs.changed++
				} else {
					cs.partitions++
				}
			}
			swaps, objBytes = nil, 0
			return nil
		}
		for _, b := range bls {
			// The compactor reads the partition first (compactPartition).
			if _, err := s.Partition(ctx, b.TopicID, b.Partition); err != nil {
				return nil, err
			}
			chunks, err := s.ChunksFrom(ctx, b.TopicID, b.Partition, b.FirstLevel0Offset, b.Level0Chunks)
			if err != nil {
				return nil, err
			}
			var old []metastore.ChunkRef
			var raw, size int64
			for _, c := range chunks {
				if c.Level != 0 {
					break
				}
				old = append(old, c.Ref())
				raw += c.RawLength
				size += c.Length
			}
			if len(old) == 0 {
				continue
			}
			if objBytes+size > targetObjectBytes {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			swaps = append(swaps, metastore.ChunkSwap{TopicID: b.TopicID, Partition: b.Partition, Old: old,
				New: level1Rows(old, raw, size, objBytes)})
			objBytes += size
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	cs.took = time.Since(start)
	if cs.rowsAfter, err = s.CompactionStats(ctx); err != nil {
		return nil, err
	}
	return cs, nil
}

// level1Rows cuts the offsets of old into level-1 chunks of about
// chunkRawBytes of records each, laid out from byte at of the object.
func level1Rows(old []metastore.ChunkRef, raw, size, at int64) []metastore.Chunk {
	base, end := old[0].BaseOffset, old[len(old)-1].EndOffset
	n := max(1, (raw+chunkRawBytes-1)/chunkRawBytes)
	n = min(n, end-base)
	rows := make([]metastore.Chunk, 0, n)
	for i := range n {
		b := base + (end-base)*i/n
		e := base + (end-base)*(i+1)/n
		l := max(1, size/n)
		rows = append(rows, metastore.Chunk{BaseOffset: b, EndOffset: e, Start: at + l*i, Length: l,
			RawLength: raw / n, BatchCount: int32(max(1, (e-b)/10)), MaxTimestamp: time.Now().UnixMilli()})
	}
	return rows
}
