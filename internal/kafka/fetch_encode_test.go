package kafka

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/roleapi"
)

// randomFetchResponse builds a response of the given version with random
// fields, every optional field set or not, and record batches for some
// partitions as roleapi.Batches. want is the same response with those
// batches copied into RecordBatches, for kmsg to encode.
func randomFetchResponse(t *testing.T, rng *rand.Rand, version int16) (got *fetchResponse, want *kmsg.FetchResponse) {
	t.Helper()
	mk := func() *kmsg.FetchResponse {
		r := kmsg.NewPtrFetchResponse()
		r.Version = version
		return r
	}
	want, base := mk(), mk()
	fill := func(r *kmsg.FetchResponse) { r.ThrottleMillis, r.ErrorCode, r.SessionID = 7, 0, 0 }
	fill(want)
	fill(base)
	got = &fetchResponse{FetchResponse: base}
	for ti := range rng.IntN(4) {
		wt, bt := kmsg.NewFetchResponseTopic(), kmsg.NewFetchResponseTopic()
		wt.Topic, bt.Topic = fmt.Sprintf("topic-%d", ti), fmt.Sprintf("topic-%d", ti)
		wt.TopicID[0], bt.TopicID[0] = byte(ti+1), byte(ti+1)
		var tb []roleapi.Batches
		for pi := range rng.IntN(5) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(pi)
			p.ErrorCode = int16(rng.IntN(2))
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64N(1e6), rng.Int64N(1e6), rng.Int64N(1e6)
			switch rng.IntN(3) {
			case 0:
				p.AbortedTransactions = nil
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			default:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 3, FirstOffset: 9}}
			}
			p.PreferredReadReplica = int32(rng.IntN(3)) - 1
			if rng.IntN(2) == 0 {
				p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = 4, 99
			}
			if rng.IntN(2) == 0 {
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 2, 8
			}
			if rng.IntN(2) == 0 {
				p.SnapshotID.EndOffset, p.SnapshotID.Epoch = 77, 6
			}
			bp := p
			var b roleapi.Batches
			switch rng.IntN(4) {
			case 0:
				p.RecordBatches, bp.RecordBatches = nil, nil
			case 1:
				p.RecordBatches, bp.RecordBatches = []byte{}, []byte{}
			case 2: // bytes in RecordBatches, as an error or an old path would leave them
				recs := batchtest.Values(batchtest.NoProducer, "x", "y")
				p.RecordBatches, bp.RecordBatches = recs, recs
			default: // batches from the cache
				var recs []byte
				for i := range 1 + rng.IntN(3) {
					bb := batchtest.Values(batchtest.NoProducer, fmt.Sprintf("v%d", i), "w")
					recordbatch.SetBaseOffset(bb, int64(10*i))
					recs = append(recs, bb...)
				}
				var err error
				if b, err = roleapi.BatchesOf(recs); err != nil {
					t.Fatal(err)
				}
				p.RecordBatches, bp.RecordBatches = recs, []byte{}
			}
			wt.Partitions = append(wt.Partitions, p)
			bt.Partitions = append(bt.Partitions, bp)
			tb = append(tb, b)
		}
		want.Topics = append(want.Topics, wt)
		base.Topics = append(base.Topics, bt)
		got.batches = append(got.batches, tb)
	}
	if rng.IntN(2) == 0 {
		rack := "r1"
		for _, r := range []*kmsg.FetchResponse{want, base} {
			r.Brokers = []kmsg.FetchResponseBroker{{NodeID: 1, Host: "h1", Port: 9092, Rack: &rack}, {NodeID: 2, Host: "h2", Port: 9093}}
		}
	}
	return got, want
}

// The hand-written encoding of a fetch response, copied or vectored, is
// byte for byte kmsg's encoding of the same response, in every version
// served, and a client decodes it back.
func TestFetchResponseEncodingMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for version := int16(4); version <= kmsg.NewPtrFetchResponse().MaxVersion(); version++ {
		for i := range 200 {
			got, want := randomFetchResponse(t, rng, version)
			wantBytes := want.AppendTo(nil)
			if b := got.AppendTo(nil); !bytes.Equal(b, wantBytes) {
				t.Fatalf("v%d case %d: AppendTo differs from kmsg (%d vs %d bytes)", version, i, len(b), len(wantBytes))
			}
			prefix := []byte("frame")
			_, pieces := got.vectored(bytes.Clone(prefix), len(prefix))
			if b := bytes.Join(pieces, nil); !bytes.Equal(b, wantBytes) {
				t.Fatalf("v%d case %d: vectored pieces differ from kmsg (%d vs %d bytes)", version, i, len(b), len(wantBytes))
			}
			dec := kmsg.NewPtrFetchResponse()
			dec.Version = version
			if err := dec.ReadFrom(wantBytes); err != nil {
				t.Fatalf("v%d case %d: kmsg cannot decode: %v", version, i, err)
			}
		}
	}
}
