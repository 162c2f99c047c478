package compactor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// txnEnv writes transactions into an env's partitions: their batches
// through ingest, their markers as the coordinator does, in a level-0
// object of their own committed through CommitSegment.
type txnEnv struct {
	*env
	pid int64
	seq int32
}

func newTxnEnv(t *testing.T) *txnEnv {
	e := newEnv(t)
	pid, err := e.store.AllocateProducerID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &txnEnv{env: e, pid: pid}
}

// txn appends one transactional batch of key=value records.
func (e *txnEnv) txn(topic metastore.Topic, kvs ...string) int64 {
	e.t.Helper()
	var recs []batchtest.Record
	for i := 0; i < len(kvs); i += 2 {
		recs = append(recs, batchtest.Record{Key: []byte(kvs[i]), Value: []byte(kvs[i+1])})
	}
	b := batchtest.Batch(batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: e.pid, BaseSequence: e.seq, Transactional: true}, recs...)
	e.seq += int32(len(recs))
	res, err := e.ing.Append(context.Background(), []ingest.PartitionRecords{{TopicID: topic.ID, Records: b, Admission: ingest.Admission{Transactional: true}}})
	if err != nil || res[0].Err != nil {
		e.t.Fatalf("append: %v %+v", err, res)
	}
	return res[0].BaseOffset
}

// plain appends one non-transactional batch of key=value records.
func (e *txnEnv) plain(topic metastore.Topic, kvs ...string) int64 {
	e.t.Helper()
	var recs []batchtest.Record
	for i := 0; i < len(kvs); i += 2 {
		recs = append(recs, batchtest.Record{Key: []byte(kvs[i]), Value: []byte(kvs[i+1])})
	}
	return e.appendOne(topic.ID, 0, batchtest.Batch(batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs...))
}

// marker commits a marker of the producer's transaction and returns its
// offset.
func (e *txnEnv) marker(topic metastore.Topic, commit bool) int64 {
	e.t.Helper()
	ctx := context.Background()
	m := recordbatch.Marker(e.pid, 0, commit, 0, time.Now().UnixMilli())
	obj, infos, err := segment.Encode(0, []segment.ChunkInput{{TopicID: topic.ID, BaseOffset: -1, Batches: 1, Records: 1,
		MinTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(), Data: m}})
	if err != nil {
		e.t.Fatal(err)
	}
	key := segment.Level0Key("", time.Now())
	if err := e.s3.Put(ctx, key, obj); err != nil {
		e.t.Fatal(err)
	}
	c := metastore.ControlAbort
	if commit {
		c = metastore.ControlCommit
	}
	res, err := e.store.CommitSegment(ctx, metastore.SegmentSpec{ObjectKey: key, ObjectSize: int64(len(obj)), Chunks: []metastore.ChunkSpec{{
		TopicID: topic.ID, Start: infos[0].Start, Length: infos[0].Length, RawLength: infos[0].RawLength,
		Batches: []metastore.BatchMeta{{OffsetCount: 1, MaxTimestamp: time.Now().UnixMilli(), ProducerID: e.pid, BaseSequence: -1, Transactional: true, Control: c}}}}})
	if err != nil || res[0].Err != nil || res[0].Batches[0].Err != nil {
		e.t.Fatalf("commit marker: %v %+v", err, res)
	}
	return res[0].Batches[0].BaseOffset
}

// offsets reads the partition and returns the offset of every record,
// control records included, with its value.
func (e *txnEnv) offsets(topic metastore.Topic) map[int64]string {
	e.t.Helper()
	recs, err := e.readPartition(nil, topic.ID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int64]string{}
	for _, r := range recs {
		out[r.offset] = string(r.value)
	}
	return out
}

func (e *txnEnv) index(topic metastore.Topic) metastore.PartitionTxns {
	e.t.Helper()
	pt, err := e.store.PartitionTxns(context.Background(), topic.ID, 0, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return pt
}

// TestMergeKeepsMarkersAndAbortedIndex: a merge of level-0 chunks into a
// level-1 object keeps every batch, the markers at their offsets, and the
// aborted-transaction index; read_committed reads of the merged object
// still list the aborted transaction. Retention past the abort marker
// then prunes its index row.
func TestMergeKeepsMarkersAndAbortedIndex(t *testing.T) {
	e := newTxnEnv(t)
	tp := e.topic("txn-merge", 1, nil)
	e.plain(tp, "k", "p0")       // 0
	e.txn(tp, "k", "aborted")    // 1
	abort := e.marker(tp, false) // 2
	e.txn(tp, "k", "committed")  // 3
	commit := e.marker(tp, true) // 4
	e.plain(tp, "k", "p1")       // 5
	before := e.offsets(tp)
	index := e.index(tp)

	c, _ := e.compactor(testConfig(), nil)
	if st := runOnce(t, c); st.ChunksMerged == 0 {
		t.Fatalf("nothing merged: %+v", st)
	}
	for _, ch := range e.chunks(tp.ID, 0) {
		if ch.Level != 1 {
			t.Fatalf("chunk %+v still level 0", ch)
		}
	}
	after := e.offsets(tp)
	if len(after) != 6 || after[abort] != before[abort] || after[commit] != before[commit] || after[1] != "aborted" {
		t.Fatalf("after the merge %v, before %v", after, before)
	}
	if got := e.index(tp); !slices.Equal(got.Aborted, index.Aborted) || len(got.Aborted) != 1 {
		t.Fatalf("index after the merge %+v, before %+v", got, index)
	}
	res, err := e.reader().ReadCommitted(context.Background(), tp.ID, 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Aborted) != 1 || res.Aborted[0].ProducerID != e.pid || res.Aborted[0].FirstOffset != 1 || res.LastStableOffset != 6 {
		t.Fatalf("read_committed of the merged object: aborted %+v, last stable offset %d", res.Aborted, res.LastStableOffset)
	}

	if _, err := e.store.DeleteRecords(context.Background(), tp.ID, 0, abort+1); err != nil {
		t.Fatal(err)
	}
	runOnce(t, c)
	if got := e.index(tp); len(got.Aborted) != 0 {
		t.Fatalf("aborted transaction below the log start still indexed: %+v", got.Aborted)
	}
}

// TestKeyCompactionDropsAbortedRecords: cleaning a compacted topic drops
// the records of an aborted transaction, which never supersede the
// committed record of their key; committed transactional records are
// compacted as any other; markers younger than delete.retention.ms stay.
func TestKeyCompactionDropsAbortedRecords(t *testing.T) {
	e := newTxnEnv(t)
	tp := e.topic("txn-clean", 1, map[string]string{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01"})
	e.plain(tp, "a", "a0", "b", "b0") // 0-1
	e.txn(tp, "a", "bad")             // 2
	abort := e.marker(tp, false)      // 3
	e.txn(tp, "b", "b1")              // 4
	commit := e.marker(tp, true)      // 5
	e.plain(tp, "c", "c0")            // 6

	c, _ := e.compactor(testConfig(), nil)
	runOnce(t, c)
	got := e.offsets(tp)
	want := map[int64]string{0: "a0", abort: string(got[abort]), 4: "b1", commit: string(got[commit]), 6: "c0"}
	if len(got) != len(want) || got[0] != "a0" || got[4] != "b1" || got[6] != "c0" {
		t.Fatalf("after cleaning %v, want %v", got, want)
	}
	if _, ok := got[abort]; !ok {
		t.Fatalf("abort marker gone: %v", got)
	}
	if _, ok := got[commit]; !ok {
		t.Fatalf("commit marker younger than delete.retention.ms gone: %v", got)
	}
}

// TestKeyCompactionDropsCommitMarkersAfterDeleteRetention: once older than
// delete.retention.ms a commit marker goes; an abort marker stays, since
// the index row naming it does.
func TestKeyCompactionDropsCommitMarkersAfterDeleteRetention(t *testing.T) {
	e := newTxnEnv(t)
	tp := e.topic("txn-markers", 1, map[string]string{"cleanup.policy": "compact", "delete.retention.ms": "0", "min.cleanable.dirty.ratio": "0.01"})
	e.txn(tp, "a", "bad")        // 0
	abort := e.marker(tp, false) // 1
	e.txn(tp, "b", "b1")         // 2
	commit := e.marker(tp, true) // 3
	e.plain(tp, "c", "c0")       // 4, the last batch, which cleaning keeps

	c, _ := e.compactor(testConfig(), nil)
	c.now = func() time.Time { return time.Now().Add(time.Second) }
	runOnce(t, c)
	got := e.offsets(tp)
	if _, ok := got[commit]; ok {
		t.Fatalf("commit marker older than delete.retention.ms kept: %v", got)
	}
	if _, ok := got[abort]; !ok {
		t.Fatalf("abort marker gone: %v", got)
	}
	if _, ok := got[0]; ok || got[2] != "b1" || got[4] != "c0" {
		t.Fatalf("after cleaning %v", got)
	}
}

// TestKeyCompactionStopsAtLastStableOffset: nothing at or after an open
// transaction's first offset is cleaned, nor supersedes a record before
// it: the transaction's outcome, and so the latest value of a key, is not
// known yet.
func TestKeyCompactionStopsAtLastStableOffset(t *testing.T) {
	e := newTxnEnv(t)
	tp := e.topic("txn-open", 1, map[string]string{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01"})
	e.plain(tp, "a", "a0", "a", "a1") // 0-1: a0 superseded within the stable part
	e.txn(tp, "b", "open")            // 2: open
	e.plain(tp, "a", "a2")            // 3: after the last stable offset

	c, _ := e.compactor(testConfig(), nil)
	runOnce(t, c)
	got := e.offsets(tp)
	if len(got) != 3 || got[1] != "a1" || got[2] != "open" || got[3] != "a2" {
		t.Fatalf("after cleaning %v, want a1 at 1, the open transaction at 2 and a2 at 3", got)
	}
}
