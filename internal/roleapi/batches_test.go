package roleapi

import (
	"bytes"
	"testing"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
)

// TestBatchesInPlace: batches that follow one another in a level-1 chunk
// are served as a slice of the cached bytes; anything else is copied, and
// the cache is never written through the result.
func TestBatchesInPlace(t *testing.T) {
	chunk := []byte("aaaabbbbbbcccdd")
	cached := bytes.Clone(chunk)
	var a Batches
	a.Add(chunk[4:10], 0, 0, false)
	a.Add(chunk[10:13], 0, 0, false)
	got := a.Bytes()
	if string(got) != "bbbbbbccc" || &got[0] != &chunk[4] {
		t.Fatalf("contiguous level-1 batches: %q, copied: %v", got, &got[0] != &chunk[4])
	}
	if cap(got) != len(got) {
		t.Fatalf("in-place result has capacity %d past its %d bytes", cap(got), len(got))
	}
	_ = append(got, 'x') // must reallocate, not overwrite "d"
	if !bytes.Equal(chunk, cached) {
		t.Fatalf("cache written through the result: %q", chunk)
	}

	var gap Batches
	gap.Add(chunk[0:4], 0, 0, false)
	gap.Add(chunk[10:13], 0, 0, false)
	if got := gap.Bytes(); string(got) != "aaaaccc" || &got[0] == &chunk[0] {
		t.Fatalf("batches with a gap: %q (must be a copy)", got)
	}
	level0 := make([]byte, 2*recordbatch.HeaderSize)
	var l0 Batches
	l0.Add(level0[:recordbatch.HeaderSize], 0, 0, true)
	l0.Add(level0[recordbatch.HeaderSize:], 0, 0, true)
	if got := l0.Bytes(); &got[0] == &level0[0] {
		t.Fatal("a level-0 batch, whose header is rewritten, was not copied")
	}
}

// Pieces, the vectored form of a read, holds exactly the bytes of Bytes:
// level-0 batches with their base offset and leader epoch set, level-1
// batches as they are cached, adjacent cached batches merged into one
// piece, and the cache never written.
func TestBatchesPieces(t *testing.T) {
	mk := func(base int64, epoch int32, vals ...string) []byte {
		b := batchtest.Values(batchtest.NoProducer, vals...)
		recordbatch.SetBaseOffset(b, base)
		recordbatch.SetPartitionLeaderEpoch(b, epoch)
		return b
	}
	// A level-0 chunk: relative offsets, no epoch. A level-1 chunk: two
	// batches with absolute offsets and their own epochs, back to back.
	l0 := append(mk(0, -1, "a", "b"), mk(2, -1, "c")...)
	l0Second := len(mk(0, -1, "a", "b"))
	l1 := append(mk(10, 3, "d", "e", "f"), mk(13, 4, "g")...)
	l1Second := len(mk(10, 3, "d", "e", "f"))
	cached := [][]byte{bytes.Clone(l0), bytes.Clone(l1)}

	var b Batches
	b.Add(l0[:l0Second], 7, 5, true)
	b.Add(l0[l0Second:], 9, 5, true)
	b.Add(l1[:l1Second], 10, 5, false)
	b.Add(l1[l1Second:], 13, 5, false)
	want := b.Bytes()

	_, pieces := b.Pieces(nil, nil)
	if got := bytes.Join(pieces, nil); !bytes.Equal(got, want) {
		t.Fatalf("pieces join to %d bytes that differ from Bytes' %d", len(got), len(want))
	}
	// Two rewritten headers with the rest of their batch each, then the
	// two level-1 batches as one piece.
	if len(pieces) != 5 {
		t.Fatalf("%d pieces, want 5 (adjacent level-1 batches merged)", len(pieces))
	}
	if !bytes.Equal(l0, cached[0]) || !bytes.Equal(l1, cached[1]) {
		t.Fatal("cache written through Pieces")
	}
	var got []recordbatch.Header
	if err := recordbatch.Split(want, func(_ []byte, h recordbatch.Header) error { got = append(got, h); return nil }); err != nil {
		t.Fatalf("served batches do not parse: %v", err)
	}
	if len(got) != 4 || got[0].BaseOffset != 7 || got[0].PartitionLeaderEpoch != 5 ||
		got[1].BaseOffset != 9 || got[2].PartitionLeaderEpoch != 3 || got[3].BaseOffset != 13 {
		t.Fatalf("served batches: %+v", got)
	}
	if next, ok := b.NextOffset(); !ok || next != 14 {
		t.Fatalf("NextOffset %d, %v; want 14", next, ok)
	}

	// Prefix keeps whole batches within the limit; Append joins reads.
	first := b.Prefix(int64(l0Second + 1))
	if first.Len() != l0Second || len(first.picks) != 1 {
		t.Fatalf("prefix of %d bytes: %d bytes in %d batches", l0Second+1, first.Len(), len(first.picks))
	}
	if next, ok := first.NextOffset(); !ok || next != 9 {
		t.Fatalf("prefix NextOffset %d, %v; want 9", next, ok)
	}
	rest := Batches{size: b.size - first.size, picks: b.picks[1:]}
	if joined := first.Append(rest); !bytes.Equal(joined.Bytes(), want) {
		t.Fatal("Append of a prefix and the rest differs from the whole")
	}
	if _, ok := (Batches{}).NextOffset(); ok {
		t.Fatal("empty batches have a next offset")
	}
}
