package groups

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/sqlite"
)

func TestLagCollector(t *testing.T) {
	e := newEnv(t)
	store := e.store.(*sqlite.Store)
	orders, err := store.TopicByName(ctxFor(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	// 10 records in orders/0, 5 in orders/1, none in orders/2.
	_, err = store.CommitSegment(ctxFor(t), metastore.SegmentSpec{ObjectKey: "l0/lag.seg", ObjectSize: 2000, Chunks: []metastore.ChunkSpec{
		{TopicID: orders.ID, Partition: 0, Start: 0, Length: 1000, RawLength: 4000,
			Batches: []metastore.BatchMeta{{OffsetCount: 10, MaxTimestamp: 1, ProducerID: metastore.NoProducerID}}},
		{TopicID: orders.ID, Partition: 1, Start: 1000, Length: 1000, RawLength: 4000,
			Batches: []metastore.BatchMeta{{OffsetCount: 5, MaxTimestamp: 1, ProducerID: metastore.NoProducerID}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.storeCommit("billing",
		metastore.GroupOffset{Topic: "orders", Partition: 0, Offset: 4, LeaderEpoch: -1},
		metastore.GroupOffset{Topic: "orders", Partition: 1, Offset: 5, LeaderEpoch: -1},
		metastore.GroupOffset{Topic: "orders", Partition: 2, Offset: 0, LeaderEpoch: -1})
	e.storeCommit("audit", metastore.GroupOffset{Topic: "payments", Partition: 1, Offset: 0, LeaderEpoch: -1})
	// A group whose topic was deleted has no lag to report.
	e.storeCommit("gone", metastore.GroupOffset{Topic: "payments", Partition: 0, Offset: 0, LeaderEpoch: -1})
	if err := store.DeleteTopic(ctxFor(t), "payments"); err != nil {
		t.Fatal(err)
	}

	var active atomic.Bool
	c := NewLagCollector(store, active.Load, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	// Only the controller exports lag: every other node reports none.
	if n, err := testutil.GatherAndCount(reg, "strata_groups_lag_records"); err != nil || n != 0 {
		t.Fatalf("inactive collector exported %d lag series (err %v)", n, err)
	}
	active.Store(true)
	want := `
# HELP strata_groups_lag_records Records between a group's committed offset and the partition's high watermark. Exported by the cluster controller only.
# TYPE strata_groups_lag_records gauge
strata_groups_lag_records{group="billing",partition="0",topic="orders"} 6
strata_groups_lag_records{group="billing",partition="1",topic="orders"} 0
strata_groups_lag_records{group="billing",partition="2",topic="orders"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "strata_groups_lag_records"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(c.errors); got != 0 {
		t.Errorf("%v scrape errors", got)
	}
}
