package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestClaimNeverMarked: the schema itself refuses to mark a claimed
// orphan unreferenced, which would let the collection of unreferenced
// objects delete the row that makes a late commit fail.
func TestClaimNeverMarked(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if got, err := s.ClaimOrphans(ctx, []string{"aa/orphan.seg"}); err != nil || len(got) != 1 {
		t.Fatalf("ClaimOrphans = %v, %v", got, err)
	}
	_, err := s.w.ExecContext(ctx, `UPDATE objects SET unreferenced_at = 1 WHERE key = 'aa/orphan.seg'`)
	if err == nil || !strings.Contains(err.Error(), "never marked unreferenced") {
		t.Fatalf("marking a claim: %v, want the trigger's refusal", err)
	}
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
