package metastore

import (
	"math"
	"sort"

	"github.com/google/uuid"
)

// MaxRecentBatches is how many committed batches per producer and partition
// are remembered for duplicate detection; Kafka producers keep at most five
// requests in flight, so a retry is always among the last five.
const MaxRecentBatches = 5

// PartitionKey names one partition.
type PartitionKey struct {
	TopicID   uuid.UUID
	Partition int32
}

// ProducerKey names one producer's state on one partition.
type ProducerKey struct {
	ProducerID int64
	TopicID    uuid.UUID
	Partition  int32
}

// RecentBatch is a committed batch remembered for duplicate detection.
type RecentBatch struct {
	FirstSeq   int32
	LastSeq    int32
	BaseOffset int64
}

// ProducerState is the sequence state of one producer on one partition.
type ProducerState struct {
	Key    ProducerKey
	Epoch  int16
	Recent []RecentBatch // oldest first, at most MaxRecentBatches
}

// LastSeq is the last sequence committed, or -1 when none.
func (s ProducerState) LastSeq() int32 {
	if len(s.Recent) == 0 {
		return -1
	}
	return s.Recent[len(s.Recent)-1].LastSeq
}

// CommitPlan is what a backend writes for one segment commit.
type CommitPlan struct {
	Results    []ChunkResult                 // one per ChunkSpec, same order
	Chunks     []Chunk                       // rows to insert
	NextOffset map[PartitionKey]int64        // new next offsets of touched partitions
	Producers  map[ProducerKey]ProducerState // states to upsert
	Txns       TxnPlan                       // changes to the transaction index
}

// PartitionKeys returns the distinct partitions of a segment in a stable
// order (topic id, partition). Backends lock rows in this order so that
// concurrent commits touching the same partitions cannot deadlock.
func PartitionKeys(seg SegmentSpec) []PartitionKey {
	seen := make(map[PartitionKey]bool, len(seg.Chunks))
	keys := make([]PartitionKey, 0, len(seg.Chunks))
	for _, c := range seg.Chunks {
		k := PartitionKey{c.TopicID, c.Partition}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	return keys
}

// ProducerKeys returns the distinct idempotent producers of a segment, sorted.
func ProducerKeys(seg SegmentSpec) []ProducerKey {
	seen := map[ProducerKey]bool{}
	var keys []ProducerKey
	for _, c := range seg.Chunks {
		for _, b := range c.Batches {
			if b.ProducerID == NoProducerID || b.ProducerID < 0 {
				continue
			}
			k := ProducerKey{b.ProducerID, c.TopicID, c.Partition}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.ProducerID != b.ProducerID {
			return a.ProducerID < b.ProducerID
		}
		return PartitionKey{a.TopicID, a.Partition}.Less(PartitionKey{b.TopicID, b.Partition})
	})
	return keys
}

// Less orders partition keys by topic id, then partition.
func (k PartitionKey) Less(o PartitionKey) bool {
	for i := range k.TopicID {
		if k.TopicID[i] != o.TopicID[i] {
			return k.TopicID[i] < o.TopicID[i]
		}
	}
	return k.Partition < o.Partition
}

// PlanCommit computes the offsets, chunk rows and producer states of a
// segment commit from the current state of its partitions (absent from
// parts: the partition does not exist) and producers (absent: no state).
// registered holds the segment's producer ids that the store handed out
// and that have not expired: a batch of one of them with no state on its
// partition must start at sequence 0. level0 chunks get Level 0. now is
// the commit time in ms.
//
// Transactions: a transactional batch opens its producer's transaction on
// the partition unless one is open (Txns.OpenFirst). A control batch (a
// marker the transaction coordinator writes) takes no sequence: its epoch
// must be at least the producer's stored epoch on the partition (else
// ErrInvalidProducerEpoch), it becomes the stored epoch, so that the
// batches of a fenced instance are refused from then on, and it closes
// the open transaction, recording its range when it aborts (Txns.Ends).
func PlanCommit(seg SegmentSpec, parts map[PartitionKey]Partition, producers map[ProducerKey]ProducerState, registered map[int64]bool, now int64) CommitPlan {
	plan := CommitPlan{
		Results:    make([]ChunkResult, len(seg.Chunks)),
		NextOffset: make(map[PartitionKey]int64),
		Producers:  make(map[ProducerKey]ProducerState),
	}
	var tracks txnTracks
	for i, spec := range seg.Chunks {
		pk := PartitionKey{spec.TopicID, spec.Partition}
		res := &plan.Results[i]
		res.LogAppendTime = now
		p, ok := parts[pk]
		if !ok {
			res.Err = ErrUnknownPartition
			continue
		}
		next, touched := plan.NextOffset[pk]
		if !touched {
			next = p.NextOffset
		}
		base := next
		res.Batches = make([]BatchResult, len(spec.Batches))
		var skip []int32
		var maxTS int64 = math.MinInt64
		for j, b := range spec.Batches {
			br := &res.Batches[j]
			if b.Control != ControlNone {
				if !planMarker(&plan, &tracks, producers, spec, b, next) {
					br.Err = ErrInvalidProducerEpoch
					br.BaseOffset = -1
					skip = append(skip, int32(j))
					continue
				}
				br.BaseOffset = next
				next += int64(b.OffsetCount)
				maxTS = max(maxTS, b.MaxTimestamp)
				continue
			}
			if b.ProducerID >= 0 {
				key := ProducerKey{b.ProducerID, spec.TopicID, spec.Partition}
				st, have := plan.Producers[key]
				if !have {
					st, have = producers[key]
					st.Key = key
				}
				verdict, dupOffset := checkSequence(st, have, registered[b.ProducerID], b)
				switch verdict {
				case seqDuplicate:
					br.BaseOffset = dupOffset
					br.Duplicate = true
					skip = append(skip, int32(j))
					continue
				case seqFenced:
					br.Err = ErrInvalidProducerEpoch
					br.BaseOffset = -1
					skip = append(skip, int32(j))
					continue
				case seqOutOfOrder:
					br.Err = ErrOutOfOrderSequence
					br.BaseOffset = -1
					skip = append(skip, int32(j))
					continue
				}
				if b.ProducerEpoch != st.Epoch || !have {
					st.Recent = nil
				}
				st.Epoch = b.ProducerEpoch
				last := addSeq(b.BaseSequence, b.OffsetCount-1)
				st.Recent = append(append([]RecentBatch(nil), st.Recent...), RecentBatch{b.BaseSequence, last, next})
				if len(st.Recent) > MaxRecentBatches {
					st.Recent = st.Recent[len(st.Recent)-MaxRecentBatches:]
				}
				plan.Producers[key] = st
				if b.Transactional {
					plan.txnData(&tracks, key, next)
				}
			}
			br.BaseOffset = next
			next += int64(b.OffsetCount)
			if b.MaxTimestamp > maxTS {
				maxTS = b.MaxTimestamp
			}
		}
		if next == base {
			continue // every batch rejected or duplicate: nothing of it joins the log
		}
		plan.NextOffset[pk] = next
		plan.Chunks = append(plan.Chunks, Chunk{
			TopicID:      spec.TopicID,
			Partition:    spec.Partition,
			BaseOffset:   base,
			EndOffset:    next,
			ObjectKey:    seg.ObjectKey,
			ObjectSize:   seg.ObjectSize,
			Level:        0,
			Start:        spec.Start,
			Length:       spec.Length,
			RawLength:    spec.RawLength,
			BatchCount:   int32(len(spec.Batches)),
			MaxTimestamp: maxTS,
			Skip:         skip,
		})
	}
	plan.txnFinish(&tracks)
	return plan
}

// planMarker applies a control batch at offset off to the plan's producer
// state and transaction index; false when its epoch is fenced (or it names
// no producer).
func planMarker(plan *CommitPlan, tracks *txnTracks, producers map[ProducerKey]ProducerState, spec ChunkSpec, b BatchMeta, off int64) bool {
	if b.ProducerID < 0 {
		return false
	}
	key := ProducerKey{b.ProducerID, spec.TopicID, spec.Partition}
	st, have := plan.Producers[key]
	if !have {
		st, have = producers[key]
		st.Key = key
	}
	if have && b.ProducerEpoch < st.Epoch {
		return false
	}
	if !have || b.ProducerEpoch > st.Epoch {
		// A new epoch starts its sequences at 0.
		st.Recent = nil
	}
	st.Epoch = b.ProducerEpoch
	plan.Producers[key] = st
	plan.txnMarker(tracks, key, off, b.Control == ControlAbort)
	return true
}

type seqVerdict int

const (
	seqAccept seqVerdict = iota
	seqDuplicate
	seqFenced
	seqOutOfOrder
)

// checkSequence applies Kafka's idempotent-producer rules to one batch.
// have says whether the producer has state on the batch's partition,
// registered whether the store knows the producer.
func checkSequence(st ProducerState, have, registered bool, b BatchMeta) (seqVerdict, int64) {
	switch {
	case !have && registered && b.BaseSequence != 0:
		// A producer starts every partition at sequence 0. Taking a later
		// batch first would put it before the earlier one when that one
		// is retried (its segment failed, say).
		return seqOutOfOrder, 0
	case !have:
		// A producer whose state expired (or that this store did not
		// hand out): accept, as Kafka does for a producer whose state it
		// does not hold.
		return seqAccept, 0
	}
	switch {
	case b.ProducerEpoch < st.Epoch:
		return seqFenced, 0
	case b.ProducerEpoch > st.Epoch:
		if b.BaseSequence != 0 {
			return seqOutOfOrder, 0
		}
		return seqAccept, 0
	}
	last := addSeq(b.BaseSequence, b.OffsetCount-1)
	for _, r := range st.Recent {
		if r.FirstSeq == b.BaseSequence && r.LastSeq == last {
			return seqDuplicate, r.BaseOffset
		}
	}
	if b.BaseSequence != addSeq(st.LastSeq(), 1) {
		return seqOutOfOrder, 0
	}
	return seqAccept, 0
}

// addSeq adds to a sequence number, wrapping at MaxInt32 as Kafka does.
func addSeq(seq, n int32) int32 {
	s := int64(seq) + int64(n)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}
