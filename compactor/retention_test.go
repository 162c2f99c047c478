package compactor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/metastore"
)

// oldAndNew appends, one append (one object) each, n batches with
// timestamps an hour old and then n current ones to partition 0, and
// returns the offset of the first current record.
func (e *env) oldAndNew(tp metastore.Topic, n int) int64 {
	e.t.Helper()
	old := time.Now().Add(-time.Hour).UnixMilli()
	for i := range n {
		e.appendOne(tp.ID, 0, batchtest.Batch(batchtest.Options{BaseTimestamp: old, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			batchtest.Record{Value: fmt.Appendf(nil, "old %d", i)}, batchtest.Record{Value: fmt.Appendf(nil, "old %d'", i)}))
	}
	var first int64 = -1
	for i := range n {
		off := e.appendOne(tp.ID, 0, batchtest.Batch(batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			batchtest.Record{Value: fmt.Appendf(nil, "new %d", i)}))
		if first < 0 {
			first = off
		}
	}
	return first
}

func TestRetentionByTime(t *testing.T) {
	e := newEnv(t)
	short := e.topic("short", 1, map[string]string{"retention.ms": "60000"})
	forever := e.topic("forever", 1, map[string]string{"retention.ms": "-1"})
	byDefault := e.topic("default", 1, nil)
	firstNew := e.oldAndNew(short, 5)
	e.oldAndNew(forever, 5)
	e.oldAndNew(byDefault, 5)

	// Merging is off: this is retention alone, on level-0 chunks.
	cfg := testConfig()
	noMerges(&cfg)
	cfg.Retention = 30 * time.Minute // the broker default
	c, _ := e.compactor(cfg, nil)
	st := runOnce(t, c)
	if st.LogStartsAdvanced != 2 || st.ChunksDropped != 10 || st.ObjectsDeleted != 10 {
		t.Errorf("stats %+v; want 2 log starts moved, 10 chunks dropped, 10 objects deleted", st)
	}
	for _, tc := range []struct {
		tp    metastore.Topic
		start int64
	}{{short, firstNew}, {forever, 0}, {byDefault, firstNew}} {
		p, err := e.store.Partition(context.Background(), tc.tp.ID, 0)
		if err != nil || p.LogStartOffset != tc.start {
			t.Errorf("%s: log start %d, %v; want %d", tc.tp.Name, p.LogStartOffset, err, tc.start)
		}
		cs := e.chunks(tc.tp.ID, 0)
		if len(cs) != 10-int(tc.start)/2 || cs[0].BaseOffset != tc.start {
			t.Errorf("%s: %d chunks from %d; want %d from %d", tc.tp.Name, len(cs), cs[0].BaseOffset, 10-tc.start/2, tc.start)
		}
		recs, err := e.readPartition(nil, tc.tp.ID, 0)
		if err != nil || len(recs) != 15-int(tc.start) {
			t.Errorf("%s: read %d records, %v", tc.tp.Name, len(recs), err)
		}
	}
	// Below the log start the reader answers OFFSET_OUT_OF_RANGE.
	if _, err := e.reader().Read(context.Background(), short.ID, 0, 0, 1<<20); !errors.Is(err, metastore.ErrOffsetOutOfRange) {
		t.Errorf("read below the log start: %v", err)
	}
	if st := runOnce(t, c); st.LogStartsAdvanced != 0 || st.ChunksDropped != 0 {
		t.Errorf("second round: %+v", st)
	}
}

func TestRetentionByBytes(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("sized", 1, nil)
	var batch []byte
	for i := range 10 {
		batch = batchtest.Values(batchtest.NoProducer, fmt.Sprintf("record %d %0200d", i, i))
		e.appendOne(tp.ID, 0, batch)
	}
	// Room for 3.5 batches: the oldest go while at least that much stays.
	limit := len(batch)*7/2 + 1
	if err := e.store.SetTopicConfigs(context.Background(), "sized", map[string]*string{"retention.bytes": ptr(fmt.Sprint(limit))}); err != nil {
		t.Fatal(err)
	}
	c, _ := e.compactor(testConfig(), nil)
	runOnce(t, c)
	p, _ := e.store.Partition(context.Background(), tp.ID, 0)
	if p.LogStartOffset != 6 {
		t.Errorf("log start %d, want 6: %d bytes kept of at least %d", p.LogStartOffset, (10-p.LogStartOffset)*int64(len(batch)), limit)
	}
	recs, err := e.readPartition(nil, tp.ID, 0)
	if err != nil || len(recs) != 4 || recs[0].offset != 6 {
		t.Errorf("read %d records from %v, %v", len(recs), recs, err)
	}
}

func ptr(s string) *string { return &s }

// TestDeleteRecordsThenCompaction: DeleteRecords moves the log start; the
// next round drops the chunks below it and deletes their objects.
func TestDeleteRecordsThenCompaction(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("trimmed", 2, nil)
	for i := range 6 {
		e.appendOne(tp.ID, 0, batchtest.Values(batchtest.NoProducer, fmt.Sprint(i), fmt.Sprint(i)))
	}
	for i := range 6 {
		e.appendOne(tp.ID, 1, batchtest.Values(batchtest.NoProducer, fmt.Sprint(i)))
	}
	ctx := context.Background()
	if _, err := e.store.DeleteRecords(ctx, tp.ID, 0, 7); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	noMerges(&cfg)
	c, _ := e.compactor(cfg, nil)
	st := runOnce(t, c)
	if st.ChunksDropped != 3 || st.ObjectsDeleted != 3 {
		t.Errorf("stats %+v; want the 3 chunks below offset 7 dropped and their objects deleted", st)
	}
	cs := e.chunks(tp.ID, 0)
	if len(cs) != 3 || cs[0].BaseOffset != 6 {
		t.Errorf("partition 0 has %d chunks from %d, want 3 from 6", len(cs), cs[0].BaseOffset)
	}
	recs, err := e.readPartition(nil, tp.ID, 0)
	if err != nil || len(recs) != 5 || recs[0].offset != 7 {
		t.Errorf("read %d records, %v", len(recs), err)
	}
	if n := len(e.chunks(tp.ID, 1)); n != 6 {
		t.Errorf("partition 1 has %d chunks, want 6", n)
	}

	// The merge leaves out what lies below the log start too.
	if _, err := e.store.DeleteRecords(ctx, tp.ID, 0, 9); err != nil {
		t.Fatal(err)
	}
	c.release() // as Run does when it stops
	c, _ = e.compactor(testConfig(), nil)
	runOnce(t, c)
	cs = e.chunks(tp.ID, 0)
	if len(cs) != 1 || cs[0].Level != 1 || cs[0].BaseOffset != 8 || cs[0].BatchCount != 2 {
		t.Errorf("partition 0 after the merge: %+v; want one level-1 chunk from 8 holding 2 batches", cs)
	}
	recs, err = e.readPartition(nil, tp.ID, 0)
	if err != nil || len(recs) != 3 || recs[0].offset != 9 {
		t.Errorf("read %d records, %v", len(recs), err)
	}
}
