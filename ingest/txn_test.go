package ingest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
)

// TestAdmissionTransactionalBatches: a transactional batch is refused
// unless the produce is part of a transaction (Admission.Transactional);
// admitted, it opens its producer's transaction on the partition, so that
// the last stable offset stays at its first offset. A control batch from
// a producer is refused either way.
func TestAdmissionTransactionalBatches(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "txn-admission", 1)
	ctx := context.Background()
	pid, err := e.store.AllocateProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := batchtest.Options{BaseTimestamp: 1000, ProducerID: pid, Transactional: true}
	txn := batchtest.Values(o, "a", "b")

	res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: txn})
	if !errors.Is(res[0].Err, ingest.ErrUnsupportedBatch) {
		t.Fatalf("outside a transaction: %v, want ErrUnsupportedBatch", res[0].Err)
	}
	marker := recordbatch.Marker(pid, 0, true, 0, 1000)
	res = mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: marker, Admission: ingest.Admission{Transactional: true}})
	if !errors.Is(res[0].Err, ingest.ErrUnsupportedBatch) {
		t.Fatalf("marker from a producer: %v, want ErrUnsupportedBatch", res[0].Err)
	}

	plain := batchtest.Values(batchtest.NoProducer, "x")
	if res = mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: plain}); res[0].Err != nil || res[0].BaseOffset != 0 {
		t.Fatalf("plain batch: %+v", res[0])
	}
	res = mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: txn, Admission: ingest.Admission{Transactional: true}})
	if res[0].Err != nil || res[0].BaseOffset != 1 {
		t.Fatalf("in a transaction: %+v", res[0])
	}
	pt, err := e.store.PartitionTxns(ctx, topic, 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if pt.FirstOpen != 1 || pt.NextOffset != 3 || pt.LastStableOffset() != 1 {
		t.Fatalf("index after the transactional batch: %+v, want open at 1", pt)
	}
}
