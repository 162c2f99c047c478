package txn

import (
	"testing"

	"github.com/stratalog/strata/internal/crc32c"
	"github.com/stratalog/strata/internal/recordbatch"
)

// TestMarkerBatch: a marker is a valid v2 control batch, with the fields
// the contract names, that the produce path's checks accept as well formed.
func TestMarkerBatch(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := markerBatch(42, 7, commit, 3, 1234)
		h, err := recordbatch.ParseSize(b) // Check refuses control batches until the produce path admits them
		if err != nil {
			t.Fatalf("commit=%v: %v", commit, err)
		}
		if got := crc32c.Checksum(b[21:]); got != h.CRC {
			t.Fatalf("commit=%v: CRC %08x, computed %08x", commit, h.CRC, got)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 42 || h.ProducerEpoch != 7 ||
			h.BaseSequence != -1 || h.NumRecords != 1 || h.LastOffsetDelta != 0 || h.MaxTimestamp != 1234 || h.Size() != len(b) {
			t.Fatalf("commit=%v: header %+v", commit, h)
		}
		typ := b[len(b)-1-6-1-2 : len(b)-1-6-1] // the key's type field
		if want := byte(0); commit {
			want = 1
			if typ[1] != want {
				t.Fatalf("commit marker type %v", typ)
			}
		} else if typ[1] != want {
			t.Fatalf("abort marker type %v", typ)
		}
	}
}
