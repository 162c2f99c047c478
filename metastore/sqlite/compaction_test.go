package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/metastoretest"
)

func TestCompactionConformance(t *testing.T) {
	metastoretest.RunCompaction(t, func(t *testing.T) metastore.CompactionStore {
		return openTemp(t)
	})
}

// BenchmarkCommitBacklogTriggers measures what the backlog triggers of
// migration 0003 add to a segment commit of 64 partitions.
func BenchmarkCommitBacklogTriggers(b *testing.B) {
	for _, triggers := range []bool{true, false} {
		b.Run(fmt.Sprintf("triggers=%v", triggers), func(b *testing.B) {
			s := openTemp(b)
			ctx := context.Background()
			if !triggers {
				for _, tr := range []string{"chunks_level0_inserted", "chunks_level0_deleted", "chunks_object_unreferenced"} {
					if _, err := s.w.ExecContext(ctx, "DROP TRIGGER "+tr); err != nil {
						b.Fatal(err)
					}
				}
			}
			tp := createTopic(b, s, "bench", 64)
			parts := make([]int32, 64)
			for i := range parts {
				parts[i] = int32(i)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.CommitSegment(ctx, segment(tp.ID, parts, plain(10, 1), plain(10, 1))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
