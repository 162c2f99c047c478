package sqlite

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// BenchmarkCommitOffsets measures one OffsetCommit's write: 8 partitions.
func BenchmarkCommitOffsets(b *testing.B) {
	s := openTemp(b)
	createTopic(b, s, "t", 8)
	ctx := b.Context()
	lease, err := s.AcquireGroupLease(ctx, "g", 1, uuid.New(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	offsets := make([]metastore.GroupOffset, 8)
	var n int64
	for b.Loop() {
		n++
		for p := range offsets {
			offsets[p] = metastore.GroupOffset{Topic: "t", Partition: int32(p), Offset: n, LeaderEpoch: -1}
		}
		if err := s.CommitOffsets(ctx, lease, offsets); err != nil {
			b.Fatal(err)
		}
	}
}
