package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
)

// txnNode is an in-process node with direct access to its metastore and
// object store, so that a test writes transactional batches and markers
// as the transaction coordinator does: a level-0 segment object, PUT,
// then committed through CommitSegment.
type txnNode struct {
	addr    string
	store   metastore.Store
	objects objstore.Store
}

func startTxnNode(t *testing.T, mode string) *txnNode {
	t.Helper()
	ctx := context.Background()
	switch mode {
	case modeDev:
		dir := filepath.Join(t.TempDir(), "data")
		n := apptest.Start(t, apptest.Dev, "-data-dir", dir, "-ingest.flush-interval", "20ms")
		objects, err := objstore.NewLocal(filepath.Join(dir, "objects"))
		if err != nil {
			t.Fatal(err)
		}
		return &txnNode{addr: n.KafkaAddr, store: n.App.Store(), objects: objects}
	default:
		s3env := testenv.S3(t)
		n := apptest.Start(t, apptest.Serve, "-metastore.postgres.url", testenv.PostgresURL(t), "-ingest.flush-interval", "20ms",
			"-objstore.url", "s3://"+s3env.Bucket, "-objstore.endpoint", s3env.Endpoint, "-objstore.region", s3env.Region,
			"-objstore.access-key-id", s3env.AccessKeyID, "-objstore.secret-access-key", s3env.SecretAccessKey, "-objstore.path-style=true")
		objects, err := objstore.NewS3(ctx, objstore.S3Config{
			Endpoint: s3env.Endpoint, Region: s3env.Region, Bucket: s3env.Bucket,
			AccessKeyID: s3env.AccessKeyID, SecretAccessKey: s3env.SecretAccessKey, PathStyle: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return &txnNode{addr: n.KafkaAddr, store: n.App.Store(), objects: objects}
	}
}

// write commits batches to one partition in a segment object of their
// own and returns their base offsets; a refused batch fails the test.
func (n *txnNode) write(t *testing.T, topic uuid.UUID, partition int32, batches ...[]byte) []int64 {
	t.Helper()
	ctx := context.Background()
	var data []byte
	metas := make([]metastore.BatchMeta, len(batches))
	var records int64
	minTS, maxTS := int64(1<<62), int64(-1)
	for i, b := range batches {
		h, err := recordbatch.Check(b)
		if err != nil {
			t.Fatal(err)
		}
		m := metastore.BatchMeta{OffsetCount: h.LastOffsetDelta + 1, MaxTimestamp: h.MaxTimestamp,
			ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence, Transactional: h.IsTransactional()}
		if h.IsControl() {
			typ, err := recordbatch.ParseControl(b, h)
			if err != nil {
				t.Fatal(err)
			}
			m.Control = metastore.ControlAbort
			if typ == recordbatch.ControlTypeCommit {
				m.Control = metastore.ControlCommit
			}
		}
		metas[i] = m
		records += int64(m.OffsetCount)
		minTS, maxTS = min(minTS, h.BaseTimestamp), max(maxTS, h.MaxTimestamp)
		data = append(data, b...)
	}
	obj, infos, err := segment.Encode(0, []segment.ChunkInput{{TopicID: topic, Partition: partition, BaseOffset: -1,
		Batches: int32(len(batches)), Records: records, MinTimestamp: minTS, MaxTimestamp: maxTS, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	key := segment.Level0Key("", time.Now())
	if err := n.objects.Put(ctx, key, obj); err != nil {
		t.Fatal(err)
	}
	res, err := n.store.CommitSegment(ctx, metastore.SegmentSpec{ObjectKey: key, ObjectSize: int64(len(obj)), Chunks: []metastore.ChunkSpec{{
		TopicID: topic, Partition: partition, Start: infos[0].Start, Length: infos[0].Length, RawLength: infos[0].RawLength, Batches: metas}}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	offs := make([]int64, len(batches))
	for i, b := range res[0].Batches {
		if b.Err != nil {
			t.Fatalf("batch %d: %v", i, b.Err)
		}
		offs[i] = b.BaseOffset
	}
	return offs
}

func txnValues(pid int64, seq int32, values ...string) []byte {
	return batchtest.Values(batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid, BaseSequence: seq, Transactional: true}, values...)
}

func plainValues(values ...string) []byte {
	return batchtest.Values(batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, values...)
}

func marker(pid int64, commit bool) []byte {
	return recordbatch.Marker(pid, 0, commit, 0, time.Now().UnixMilli())
}

// pollValues polls cl until it has n records or ctx ends, and returns the
// values and offsets seen.
func pollValues(ctx context.Context, t *testing.T, cl *kgo.Client, n int) (values []string, offsets []int64) {
	t.Helper()
	for len(values) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			values = append(values, string(r.Value))
			offsets = append(offsets, r.Offset)
		})
	}
	return values, offsets
}

// TestReadCommittedThroughFranzGo writes, on one partition, plain records
// and two producers' transactions, one committed and one aborted, and
// reads them with franz-go consumers: a read_committed consumer stops at
// the open transactions and goes on when each marker lands, never sees the
// aborted records, and a read_uncommitted one sees every record; neither
// gets a marker as a record. ListOffsets in read_committed answers the
// last stable offset, and a raw Fetch lists the aborted transaction.
func TestReadCommittedThroughFranzGo(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		n := startTxnNode(t, mode)
		const topic = "txn-read"
		createTopic(t, n.addr, topic, 1)
		ctx := context.Background()
		tp, err := n.store.TopicByName(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		pa, err := n.store.AllocateProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := n.store.AllocateProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(newClient(t, n.addr))
		committedEnd := func() int64 {
			t.Helper()
			l, err := adm.ListCommittedOffsets(ctx, topic)
			if err != nil || l.Error() != nil {
				t.Fatalf("ListCommittedOffsets: %v %v", err, l.Error())
			}
			o, _ := l.Lookup(topic, 0)
			return o.Offset
		}

		n.write(t, tp.ID, 0, plainValues("p0"))            // 0
		n.write(t, tp.ID, 0, txnValues(pa, 0, "a1", "a2")) // 1-2
		n.write(t, tp.ID, 0, txnValues(pb, 0, "b1"))       // 3
		n.write(t, tp.ID, 0, plainValues("p1"))            // 4
		if got := committedEnd(); got != 1 {
			t.Fatalf("read_committed end offset %d with a transaction open at 1, want 1", got)
		}
		// kadm's DescribeProducers lists both producers with their open
		// transactions.
		described, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatalf("DescribeProducers: %v", err)
		}
		dp := described[topic].Partitions[0]
		if dp.Err != nil || len(dp.ActiveProducers) != 2 {
			t.Fatalf("DescribeProducers: %v, %+v", dp.Err, dp.ActiveProducers)
		}
		for pid, want := range map[int64][2]int64{pa: {1, 1}, pb: {0, 3}} {
			p, ok := dp.ActiveProducers[pid]
			if !ok || p.ProducerEpoch != 0 || int64(p.LastSequence) != want[0] || p.CurrentTxnStartOffset != want[1] {
				t.Fatalf("producer %d: %+v, want last sequence %d and transaction from %d", pid, p, want[0], want[1])
			}
		}

		committed := newClient(t, n.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(500*time.Millisecond))
		uncommitted := newClient(t, n.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))

		pollCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if vs, _ := pollValues(pollCtx, t, committed, 1); !slices.Equal(vs, []string{"p0"}) {
			t.Fatalf("read_committed before any marker: %v, want [p0]", vs)
		}
		// Blocked at the open transaction: nothing more within a few
		// long polls.
		short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
		if vs, _ := pollValues(short, t, committed, 1); len(vs) != 0 {
			t.Fatalf("read_committed past the last stable offset: %v", vs)
		}
		cancelShort()

		n.write(t, tp.ID, 0, marker(pa, true)) // 5: a's records become visible
		if vs, _ := pollValues(pollCtx, t, committed, 2); !slices.Equal(vs, []string{"a1", "a2"}) {
			t.Fatalf("read_committed after a's commit: %v, want [a1 a2]", vs)
		}
		if got := committedEnd(); got != 3 {
			t.Fatalf("read_committed end offset %d with b open at 3, want 3", got)
		}

		n.write(t, tp.ID, 0, marker(pb, false)) // 6: b aborted
		n.write(t, tp.ID, 0, plainValues("p2")) // 7
		vs, offs := pollValues(pollCtx, t, committed, 2)
		if !slices.Equal(vs, []string{"p1", "p2"}) || !slices.Equal(offs, []int64{4, 7}) {
			t.Fatalf("read_committed after b's abort: %v at %v, want [p1 p2] at [4 7]", vs, offs)
		}
		if got := committedEnd(); got != 8 {
			t.Fatalf("read_committed end offset %d with no transaction open, want 8", got)
		}
		if described, err = adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}}); err != nil {
			t.Fatal(err)
		}
		for pid, p := range described[topic].Partitions[0].ActiveProducers {
			if p.CurrentTxnStartOffset != -1 {
				t.Fatalf("producer %d after its marker: transaction from %d", pid, p.CurrentTxnStartOffset)
			}
		}

		vs, offs = pollValues(pollCtx, t, uncommitted, 6)
		if !slices.Equal(vs, []string{"p0", "a1", "a2", "b1", "p1", "p2"}) || !slices.Equal(offs, []int64{0, 1, 2, 3, 4, 7}) {
			t.Fatalf("read_uncommitted: %v at %v", vs, offs)
		}

		// The protocol's view: the aborted transaction of b is listed,
		// the last stable offset is the high watermark.
		req := kmsg.NewPtrFetchRequest()
		req.IsolationLevel, req.MaxBytes, req.MaxWaitMillis = 1, 1<<20, 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, tp.ID // the client picks the version: by name or by id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, newClient(t, n.addr))
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 || sp.HighWatermark != 8 || sp.LastStableOffset != 8 {
			t.Fatalf("fetch: error %d, high watermark %d, last stable offset %d", sp.ErrorCode, sp.HighWatermark, sp.LastStableOffset)
		}
		if len(sp.AbortedTransactions) != 1 || sp.AbortedTransactions[0].ProducerID != pb || sp.AbortedTransactions[0].FirstOffset != 3 {
			t.Fatalf("aborted transactions %+v, want producer %d from 3", sp.AbortedTransactions, pb)
		}
	})
}
