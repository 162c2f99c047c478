package kafka

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
)

// requestHeaderBytes is a request header for key at version: v2 (with
// tagged fields) when the version is flexible.
func requestHeaderBytes(key, version int16) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, 0xff, 0xff) // null client id
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return b
}

// allocated returns the bytes allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// claimFrame is a request frame of size bytes: the header, prefix, then
// each of counts as a compact array count claiming that many elements
// (one nested in the first element of the one before, after that
// element's own prefix), then zeros.
func claimFrame(key, version int16, size int, prefix []byte, levels ...claimLevel) []byte {
	frame := claimPrefix(key, version, size, prefix, levels...)
	return append(frame, make([]byte, size-len(frame))...)
}

// claimPrefix is claimFrame without the zeros: the claims are made
// against a frame of size bytes, which the caller fills.
func claimPrefix(key, version int16, size int, prefix []byte, levels ...claimLevel) []byte {
	frame := append(requestHeaderBytes(key, version), prefix...)
	rest := size - len(frame)
	for _, l := range levels {
		n := (rest - 16) / l.minSize
		frame = kbin.AppendUvarint(frame, uint32(n+1))
		frame = append(frame, l.first...)
		rest = size - len(frame)
	}
	return frame
}

// claimLevel is one level of nested arrays: the smallest element
// encoding kmsg checks its count against, and the bytes of its first
// element up to the next level's count.
type claimLevel struct {
	minSize int
	first   []byte
}

// TestDecodeAmplificationBounded: kmsg refuses an array count that the
// bytes left could not hold before allocating anything; a count that they
// could hold at the elements' smallest encoding is allocated before the
// elements are decoded, for each level of nesting. What that allocates is
// within the request's charge (see requestCharge), for the APIs with the
// largest factors and for tagged fields; a Produce request that claims
// more than it holds is refused before it is decoded.
func TestDecodeAmplificationBounded(t *testing.T) {
	handlers := newHandlerTable(true, true, true, true)
	decode := func(frame []byte) (uint64, error) {
		var err error
		n := allocated(func() { _, err = decodeRequest(frame, handlers) })
		return n, err
	}

	// A million topics claimed in a 100-byte Metadata request: refused,
	// having allocated next to nothing.
	million := append(requestHeaderBytes(kmsg.Metadata.Int16(), 12), kbin.AppendUvarint(nil, 1_000_001)...)
	million = append(million, make([]byte, 100)...)
	if n, err := decode(million); err == nil || n > 4<<10 {
		t.Fatalf("a million claimed topics: %v, %d bytes allocated", err, n)
	}
	v4 := append(requestHeaderBytes(kmsg.Metadata.Int16(), 4), binary.BigEndian.AppendUint32(nil, 1_000_000)...)
	v4 = append(v4, make([]byte, 100)...)
	if n, err := decode(v4); err == nil || n > 4<<10 {
		t.Fatalf("a million claimed topics, v4: %v, %d bytes allocated", err, n)
	}

	const size = 1 << 20
	group := []byte{2, 'g'} // compact string "g"
	cases := []struct {
		name  string
		frame []byte
	}{
		// OffsetFetch v8: groups, their topics, their partitions.
		{"OffsetFetch groups topics partitions", claimFrame(kmsg.OffsetFetch.Int16(), 8, size, nil,
			claimLevel{3, group}, claimLevel{2, []byte{2, 't'}}, claimLevel{4, nil})},
		// Fetch v12: replica, max wait, min bytes, max bytes, isolation,
		// session id and epoch, then topics and their partitions.
		{"Fetch topics partitions", claimFrame(kmsg.Fetch.Int16(), 12, size, make([]byte, 25),
			claimLevel{2, []byte{2, 't'}}, claimLevel{1, nil})},
		// OffsetCommit v8: group, generation, member, instance, topics.
		{"OffsetCommit topics partitions", claimFrame(kmsg.OffsetCommit.Int16(), 8, size, append(group, 0, 0, 0, 0, 1, 0),
			claimLevel{2, []byte{2, 't'}}, claimLevel{1, nil})},
		// Metadata v9: before topic ids, a topic is at least 2 bytes.
		{"Metadata topics", claimFrame(kmsg.Metadata.Int16(), 9, size, nil, claimLevel{2, nil})},
		{"DescribeConfigs resources names", claimFrame(kmsg.DescribeConfigs.Int16(), 4, size, nil,
			claimLevel{4, []byte{2, 2, 't'}}, claimLevel{1, nil})},
		{"CreateTopics topics configs", claimFrame(kmsg.CreateTopics.Int16(), 5, size, nil,
			claimLevel{10, []byte{2, 't', 0, 0, 0, 1, 0, 1, 1}}, claimLevel{3, nil})},
	}
	// Tagged fields: a flood of distinct empty tags fills what is left of
	// a frame.
	withTags := func(frame []byte) []byte {
		var flood []byte
		n := 0
		for key := uint32(0); len(frame)+len(flood) < size-8; key++ {
			flood = kbin.AppendUvarint(flood, key)
			flood = append(flood, 0)
			n++
		}
		return append(kbin.AppendUvarint(frame, uint32(n)), flood...)
	}
	cases = append(cases, []struct {
		name  string
		frame []byte
	}{
		{"Metadata tags", withTags(append(requestHeaderBytes(kmsg.Metadata.Int16(), 12), 0, 0, 0))},
		// The worst case found: OffsetFetch groups and topics claimed,
		// and the first topic's tags.
		{"OffsetFetch groups topics tags", withTags(claimPrefix(kmsg.OffsetFetch.Int16(), 8, size, nil,
			claimLevel{3, group}, claimLevel{2, []byte{2, 't', 1}}))},
	}...)

	for _, tc := range cases {
		key := int16(binary.BigEndian.Uint16(tc.frame))
		n, err := decode(tc.frame)
		charge := requestCharge(key, len(tc.frame))
		t.Logf("%s: %d byte frame decoded to %d bytes (%.1f per byte; charged %d per byte), err %v",
			tc.name, len(tc.frame), n, float64(n)/float64(len(tc.frame)), charge/int64(len(tc.frame)), err)
		limit := charge
		if raceEnabled {
			// The race detector keeps the compiler from folding the
			// make into the append: every claim allocates twice.
			limit *= 2
		}
		if int64(n) > limit {
			t.Errorf("%s: %d bytes allocated, above the charge %d", tc.name, n, charge)
		}
		if int64(n) < 8*int64(len(tc.frame)) && tc.name != "Metadata tags" {
			// Not a worst case: the test frames do not claim what
			// they should.
			t.Errorf("%s: only %d bytes allocated: the frame does not exercise the claims", tc.name, n)
		}
	}

	// Produce: a request claiming more topics than it holds is refused
	// by the walk before kmsg allocates them; one of many real but empty
	// topics, which would decode to 32 times its size, too.
	produce := claimFrame(produceKey, 9, size, []byte{0, 0xff, 0xff, 0, 0, 0, 0}, claimLevel{2, nil})
	if n, err := decode(produce); err == nil || n > 64<<10 {
		t.Fatalf("produce claiming topics: %v, %d bytes allocated", err, n)
	}
	empty := append(requestHeaderBytes(produceKey, 9), 0, 0xff, 0xff, 0, 0, 0, 0)
	topics := (size - len(empty) - 8) / 3
	empty = kbin.AppendUvarint(empty, uint32(topics+1))
	for range topics {
		empty = append(empty, 1, 1, 0) // name "", no partitions, no tags
	}
	empty = append(empty, 0)
	if n, err := decode(empty); err == nil || n > 64<<10 {
		t.Fatalf("produce of %d empty topics: %v, %d bytes allocated", topics, err, n)
	}
	// An honest produce request decodes to less than its bound.
	var parts []rawPart
	for p := range 2000 {
		parts = append(parts, rawPart{topic: "t", partition: int32(p), records: batchtest.Values(noProducer(1000), "v")})
	}
	req := produceRequest(-1, parts...)
	for v := int16(3); v <= 13; v++ {
		if v == 13 {
			break // by topic id: same structure
		}
		req.SetVersion(v)
		frame := encodeRequest(req, 1)[4:]
		d, err := decodeRequest(frame, handlers)
		if err != nil {
			t.Fatalf("honest produce v%d of 2000 partitions refused: %v", v, err)
		}
		if d.decodedSize > maxProduceDecoded(len(frame)) {
			t.Fatalf("v%d: decoded size %d above the bound %d", v, d.decodedSize, maxProduceDecoded(len(frame)))
		}
	}
}

// produceSeeds are Produce request bodies (after the header) at every
// version, with one or more topics and partitions.
func produceSeeds() (bodies [][]byte, versions []int16) {
	records := batchtest.Values(noProducer(1000), "a", "b")
	reqs := []*kmsg.ProduceRequest{
		produceRequest(-1, rawPart{topic: "t", partition: 0, records: records}),
		produceRequest(1, rawPart{topic: "t", partition: 0, records: records}, rawPart{topic: "t", partition: 1, records: nil},
			rawPart{topic: "u", partition: 3, records: records}),
	}
	reqs[1].TransactionID = kmsg.StringPtr("txn")
	for _, req := range reqs {
		for v := int16(0); v <= 13; v++ {
			req.SetVersion(v)
			if v == 13 {
				for i := range req.Topics {
					req.Topics[i].TopicID = [16]byte{byte(i + 1)}
				}
			}
			bodies = append(bodies, req.AppendTo(nil))
			versions = append(versions, v)
		}
	}
	return bodies, versions
}

// FuzzProduceDecodedSize checks the Produce walk against kmsg: whatever
// kmsg decodes, the walk accepts, and the size it reports is what the
// decoded request's topics, partitions, strings and tags take; whatever
// the walk accepts, kmsg decodes.
func FuzzProduceDecodedSize(f *testing.F) {
	bodies, versions := produceSeeds()
	for i, b := range bodies {
		f.Add(b, uint8(versions[i]))
	}
	f.Fuzz(func(t *testing.T, body []byte, v uint8) {
		version := int16(v % 14)
		size, err := produceDecodedSize(body, version)
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		kerr := req.ReadFrom(body)
		if (err == nil) != (kerr == nil) {
			t.Fatalf("v%d: walk %v, kmsg %v", version, err, kerr)
		}
		if err != nil {
			return
		}
		want := int64(len(req.Topics)) * produceTopicSize
		if req.TransactionID != nil {
			want += int64(len(*req.TransactionID))
		}
		want += int64(req.UnknownTags.Len()) * tagSize
		for _, rt := range req.Topics {
			want += int64(len(rt.Topic)) + int64(len(rt.Partitions))*producePartitionSize + int64(rt.UnknownTags.Len())*tagSize
			for _, rp := range rt.Partitions {
				want += int64(rp.UnknownTags.Len()) * tagSize
			}
		}
		// Tags with the same key count once in kmsg and every time in
		// the walk: the walk may only be above.
		if size < want {
			t.Fatalf("v%d: walk says %d bytes, kmsg decoded %d", version, size, want)
		}
	})
}
