package kafka

import (
	"net"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/roleapi"
)

// fetchResponse is a Fetch response (version 4 and later) whose record
// batches stay in the reader's cache until the response is written: the
// connection writes them with one vectored write (writev) instead of
// copying them into RecordBatches and then into its response buffer. At
// catch-up speed those two copies, and the zeroing of the buffers they
// went to, took a fifth of the node's CPU.
//
// batches has the shape of Topics and their Partitions; a partition whose
// Batches are empty is written from its RecordBatches as kmsg would.
type fetchResponse struct {
	*kmsg.FetchResponse
	batches [][]roleapi.Batches
}

// AppendTo encodes the whole response with its batches copied in, like
// kmsg's encoding of the same response with RecordBatches filled.
func (f *fetchResponse) AppendTo(dst []byte) []byte {
	return f.encode(dst, func(dst []byte, b roleapi.Batches) []byte { return b.AppendTo(dst) })
}

// vectored encodes the response into dst, except the cached batches, and
// returns dst and the pieces to write in order: slices of dst, from
// dst[start:] on (start is where the frame begins), between references to
// the cache. The pieces must not be written to.
func (f *fetchResponse) vectored(dst []byte, start int) ([]byte, net.Buffers) {
	type cut struct {
		at      int // bytes of dst before the batches
		batches roleapi.Batches
	}
	var cuts []cut
	dst = f.encode(dst, func(dst []byte, b roleapi.Batches) []byte {
		cuts = append(cuts, cut{len(dst), b})
		return dst
	})
	var scratch []byte
	pieces := make(net.Buffers, 0, 2*len(cuts)+1)
	from := start
	for _, c := range cuts {
		if c.at > from {
			pieces = append(pieces, dst[from:c.at:c.at])
		}
		scratch, pieces = c.batches.Pieces(scratch, pieces)
		from = c.at
	}
	if len(dst) > from {
		pieces = append(pieces, dst[from:len(dst):len(dst)])
	}
	return dst, pieces
}

// encode appends the response as kmsg.FetchResponse.AppendTo does for
// versions 4 to 18, but writes a partition's record batches with records
// when it has Batches: after their length, records appends their bytes (or
// notes where they go).
func (f *fetchResponse) encode(dst []byte, records func(dst []byte, b roleapi.Batches) []byte) []byte {
	v := f.FetchResponse
	version := v.Version
	flex := version >= 12
	dst = kbin.AppendInt32(dst, v.ThrottleMillis)
	if version >= 7 {
		dst = kbin.AppendInt16(dst, v.ErrorCode)
		dst = kbin.AppendInt32(dst, v.SessionID)
	}
	dst = appendArrayLen(dst, len(v.Topics), flex)
	for ti := range v.Topics {
		t := &v.Topics[ti]
		if version <= 12 {
			dst = appendString(dst, t.Topic, flex)
		} else {
			dst = kbin.AppendUuid(dst, t.TopicID)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flex)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			dst = kbin.AppendInt64(dst, p.LastStableOffset)
			if version >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			if flex {
				dst = kbin.AppendCompactNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			} else {
				dst = kbin.AppendNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			}
			for _, a := range p.AbortedTransactions {
				dst = kbin.AppendInt64(dst, a.ProducerID)
				dst = kbin.AppendInt64(dst, a.FirstOffset)
				if flex {
					dst = append(dst, 0) // no tagged fields
				}
			}
			if version >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			if b := f.partBatches(ti, pi); b.Len() > 0 {
				if flex {
					dst = kbin.AppendUvarint(dst, 1+uint32(b.Len()))
				} else {
					dst = kbin.AppendInt32(dst, int32(b.Len()))
				}
				dst = records(dst, b)
			} else if flex {
				dst = kbin.AppendCompactNullableBytes(dst, p.RecordBatches)
			} else {
				dst = kbin.AppendNullableBytes(dst, p.RecordBatches)
			}
			if flex {
				dst = appendPartitionTags(dst, p)
			}
		}
		if flex {
			dst = append(dst, 0) // no tagged fields
		}
	}
	if flex {
		dst = appendBrokerTags(dst, v.Brokers)
	}
	return dst
}

func (f *fetchResponse) partBatches(ti, pi int) roleapi.Batches {
	if ti < len(f.batches) && pi < len(f.batches[ti]) {
		return f.batches[ti][pi]
	}
	return roleapi.Batches{}
}

func appendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

func appendString(dst []byte, s string, flex bool) []byte {
	if flex {
		return kbin.AppendCompactString(dst, s)
	}
	return kbin.AppendString(dst, s)
}

// appendPartitionTags appends a flexible partition's tagged fields:
// DivergingEpoch (0), CurrentLeader (1) and SnapshotID (2) when not at
// their defaults. Each is a tag, the size of its value, then the value.
func appendPartitionTags(dst []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	diverging := p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1
	leader := p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1
	snapshot := p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1
	n := 0
	for _, set := range []bool{diverging, leader, snapshot} {
		if set {
			n++
		}
	}
	dst = kbin.AppendUvarint(dst, uint32(n))
	if diverging {
		dst = append(dst, 0, 4+8+1)
		dst = kbin.AppendInt32(dst, p.DivergingEpoch.Epoch)
		dst = kbin.AppendInt64(dst, p.DivergingEpoch.EndOffset)
		dst = append(dst, 0)
	}
	if leader {
		dst = append(dst, 1, 4+4+1)
		dst = kbin.AppendInt32(dst, p.CurrentLeader.LeaderID)
		dst = kbin.AppendInt32(dst, p.CurrentLeader.LeaderEpoch)
		dst = append(dst, 0)
	}
	if snapshot {
		dst = append(dst, 2, 8+4+1)
		dst = kbin.AppendInt64(dst, p.SnapshotID.EndOffset)
		dst = kbin.AppendInt32(dst, p.SnapshotID.Epoch)
		dst = append(dst, 0)
	}
	return dst
}

// appendBrokerTags appends the response's tagged fields: NodeEndpoints (0)
// when there are any.
func appendBrokerTags(dst []byte, brokers []kmsg.FetchResponseBroker) []byte {
	if len(brokers) == 0 {
		return append(dst, 0)
	}
	var val []byte
	val = kbin.AppendCompactArrayLen(val, len(brokers))
	for _, b := range brokers {
		val = kbin.AppendInt32(val, b.NodeID)
		val = kbin.AppendCompactString(val, b.Host)
		val = kbin.AppendInt32(val, b.Port)
		val = kbin.AppendCompactNullableString(val, b.Rack)
		val = append(val, 0)
	}
	dst = append(dst, 1, 0) // one tagged field, tag 0
	dst = kbin.AppendUvarint(dst, uint32(len(val)))
	return append(dst, val...)
}
