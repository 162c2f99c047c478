package compactor

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/metastore"
)

// zstdBatch compresses the records of an uncompressed test batch with zstd,
// as a producer with compression.type=zstd sends them.
func zstdBatch(t testing.TB, b []byte) []byte {
	t.Helper()
	comp, err := kgo.DefaultCompressor(kgo.ZstdCompression())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	body, codec := comp.Compress(&buf, b[recordbatch.HeaderSize:])
	if codec != kgo.CodecZstd {
		t.Fatalf("compressed with codec %v", codec)
	}
	out := append(append([]byte(nil), b[:recordbatch.HeaderSize]...), body...)
	attrs := binary.BigEndian.Uint16(out[21:]) | recordbatch.CompressionZstd
	binary.BigEndian.PutUint16(out[21:], attrs)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := recordbatch.Check(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// keyed tracks what a compacted topic must hold: per key, the offset and
// value of its last record (nil value: a tombstone).
type keyed struct {
	partitions int32
	last       map[string]rec
}

// update appends, in one Append, a record for each key (value nil when
// tombstone) to the key's partition (key number mod partitions), 50 records
// per batch, compressed with zstd when zstd is set.
func (k *keyed) update(e *env, tp metastore.Topic, keys []int, round int, tombstone, zstd bool) {
	e.t.Helper()
	byPart := map[int32][]batchtest.Record{}
	for _, n := range keys {
		r := batchtest.Record{Key: fmt.Appendf(nil, "key-%04d", n)}
		if !tombstone {
			r.Value = fmt.Appendf(nil, "value of %d in round %d", n, round)
		}
		p := int32(n) % k.partitions
		byPart[p] = append(byPart[p], r)
	}
	var parts []ingest.PartitionRecords
	var order [][]batchtest.Record
	for p := range k.partitions {
		recs := byPart[p]
		var data []byte
		for i := 0; i < len(recs); i += 50 {
			b := batchtest.Batch(batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs[i:min(i+50, len(recs))]...)
			if zstd {
				b = zstdBatch(e.t, b)
			}
			data = append(data, b...)
		}
		if len(data) > 0 {
			parts = append(parts, ingest.PartitionRecords{TopicID: tp.ID, Partition: p, Records: data})
			order = append(order, recs)
		}
	}
	res, err := e.ing.Append(context.Background(), parts)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			e.t.Fatal(r.Err)
		}
		for j, x := range order[i] {
			k.last[string(x.Key)] = rec{offset: r.BaseOffset + int64(j), key: x.Key, value: x.Value}
		}
	}
}

// check reads the topic and compares it with the last record of each key
// (tombstones included, unless dropped). It returns the records read.
func (k *keyed) check(e *env, tp metastore.Topic, dropped map[string]bool) int {
	e.t.Helper()
	n := 0
	seen := map[string]bool{}
	for p := range tp.Partitions {
		recs, err := e.readPartition(nil, tp.ID, p)
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(recs)
		for _, r := range recs {
			key := string(r.key)
			want, ok := k.last[key]
			switch {
			case !ok:
				e.t.Fatalf("partition %d offset %d: unknown key %q", p, r.offset, key)
			case seen[key]:
				e.t.Fatalf("partition %d offset %d: key %q appears twice", p, r.offset, key)
			case r.offset != want.offset || !bytes.Equal(r.value, want.value) || (r.value == nil) != (want.value == nil):
				e.t.Fatalf("key %q: offset %d value %q; want its last record, offset %d value %q", key, r.offset, r.value, want.offset, want.value)
			}
			seen[key] = true
		}
	}
	for key := range k.last {
		if !seen[key] && !dropped[key] {
			e.t.Fatalf("key %q: its last record is gone", key)
		}
		if seen[key] && dropped[key] {
			e.t.Fatalf("key %q: expired tombstone still there", key)
		}
	}
	return n
}

// TestKeyCompaction: 1000 keys updated 20 times end with each key's last
// record only, at its original offset.
func TestKeyCompaction(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("state", 2, map[string]string{"cleanup.policy": "compact"})
	k := &keyed{partitions: 2, last: map[string]rec{}}
	all := make([]int, 1000)
	for i := range all {
		all[i] = i
	}
	for round := range 20 {
		if round == 19 {
			k.update(e, tp, all[:50], round, true, false) // tombstones
			k.update(e, tp, all[50:], round, false, false)
			continue
		}
		k.update(e, tp, all, round, false, round%2 == 1)
	}
	if _, n := e.hashTopic(tp); n != 20000 {
		t.Fatalf("before compaction: %d records, want 20000", n)
	}
	c, _ := e.compactor(testConfig(), nil)
	st := runOnce(t, c)
	n := k.check(e, tp, nil)
	t.Logf("1000 keys x 20 updates: %d records after compaction, stats %+v", n, st)
	if n != 1000 || st.RecordsRemoved != 19000 {
		t.Errorf("%d records left, %d removed; want 1000 left (50 tombstones), 19000 removed", n, st.RecordsRemoved)
	}
	for p := range tp.Partitions {
		for _, ch := range e.chunks(tp.ID, p) {
			if ch.Level != 1 {
				t.Errorf("partition %d: level-%d chunk after compaction", p, ch.Level)
			}
		}
	}

	// More updates of half the keys: the next cleaning removes the values
	// they replace, in level-1 objects too.
	for round := 20; round < 25; round++ {
		k.update(e, tp, all[:500], round, false, round%2 == 0)
	}
	st = runOnce(t, c)
	if n := k.check(e, tp, nil); n != 1000 || st.RecordsRemoved != 2500 {
		t.Errorf("after the second cleaning: %d records, %d removed; want 1000 left, 2500 removed", n, st.RecordsRemoved)
	}

	// Tombstones past delete.retention.ms go, with the key.
	err := e.store.SetTopicConfigs(context.Background(), "state", map[string]*string{
		"delete.retention.ms": ptr("0"), "min.cleanable.dirty.ratio": ptr("0")})
	if err != nil {
		t.Fatal(err)
	}
	k.update(e, tp, all[500:550], 25, true, false)
	k.update(e, tp, all[998:], 25, false, false) // the last batch of each partition is not a tombstone
	// The tombstones are older than delete.retention.ms.
	c.now = func() time.Time { return time.Now().Add(time.Second) }
	st = runOnce(t, c)
	dropped := map[string]bool{}
	for _, n := range all[500:550] {
		dropped[fmt.Sprintf("key-%04d", n)] = true
	}
	if n := k.check(e, tp, dropped); n != 950 {
		t.Errorf("after tombstones expired: %d records, want 950 (stats %+v)", n, st)
	}
	b, err := e.store.PartitionBacklog(context.Background(), tp.ID, 0)
	p, _ := e.store.Partition(context.Background(), tp.ID, 0)
	if err != nil || b.CleanedOffset != p.NextOffset || b.Level0Chunks != 0 {
		t.Errorf("backlog %+v, %v; want cleaned up to %d", b, err, p.NextOffset)
	}
}

// TestKeyCompactionKeepsLastTombstone: a partition whose last record is an
// expired tombstone keeps that batch, so its last offset stays readable.
func TestKeyCompactionKeepsLastTombstone(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("gone", 1, map[string]string{"cleanup.policy": "compact,delete", "delete.retention.ms": "0", "retention.ms": "-1"})
	k := &keyed{partitions: 1, last: map[string]rec{}}
	k.update(e, tp, []int{1, 2, 3}, 0, false, false)
	k.update(e, tp, []int{1, 2, 3}, 1, true, false)
	c, _ := e.compactor(testConfig(), nil)
	c.now = func() time.Time { return time.Now().Add(time.Second) } // the tombstones are older than delete.retention.ms
	runOnce(t, c)
	// The three tombstones share the last batch: all stay.
	if n := k.check(e, tp, nil); n != 3 {
		t.Errorf("%d records, want the 3 tombstones of the last batch", n)
	}
}
