package roleapi

import (
	"encoding/binary"

	"github.com/stratalog/strata/internal/recordbatch"
)

// Batches is what a read found: whole record batches, in offset order, as
// references to the cached bytes they are in. Level-0 batches are stored
// with relative offsets and no leader epoch; their base offset and leader
// epoch are set where they are copied out (Bytes, AppendTo) or written
// (Pieces), never in the cache. The zero value is empty.
type Batches struct {
	size  int
	picks []pick
}

type pick struct {
	batch   []byte // cached bytes: never written
	base    int64  // absolute base offset
	epoch   int32
	rewrite bool // set base and epoch when served
}

// Add appends a cached batch whose first offset is base. With rewrite
// (level 0), its base offset and leader epoch are set when it is served.
func (b *Batches) Add(batch []byte, base int64, epoch int32, rewrite bool) {
	b.picks = append(b.picks, pick{batch, base, epoch, rewrite})
	b.size += len(batch)
}

// Mark returns a position for Reset.
func (b *Batches) Mark() int { return len(b.picks) }

// Reset drops the batches added since mark.
func (b *Batches) Reset(mark int) {
	for _, p := range b.picks[mark:] {
		b.size -= len(p.batch)
	}
	b.picks = b.picks[:mark]
}

// Len is the size of the batches in bytes.
func (b Batches) Len() int { return b.size }

// NextOffset is the offset after the last batch; ok is false when there is
// none.
func (b Batches) NextOffset() (next int64, ok bool) {
	if len(b.picks) == 0 {
		return 0, false
	}
	last := b.picks[len(b.picks)-1]
	h, err := recordbatch.ParseHeader(last.batch)
	if err != nil {
		return 0, false // cannot happen: batches were checked when decoded
	}
	return last.base + h.OffsetCount(), true
}

// Prefix returns the first batches whose total size is at most limit.
func (b Batches) Prefix(limit int64) Batches {
	var out Batches
	for i, p := range b.picks {
		if int64(out.size+len(p.batch)) > limit {
			out.picks = b.picks[:i:i]
			return out
		}
		out.size += len(p.batch)
	}
	out.picks = b.picks[:len(b.picks):len(b.picks)]
	return out
}

// Append returns b followed by more.
func (b Batches) Append(more Batches) Batches {
	picks := make([]pick, 0, len(b.picks)+len(more.picks))
	picks = append(append(picks, b.picks...), more.picks...)
	return Batches{size: b.size + more.size, picks: picks}
}

// Bytes returns the batches as one slice: the cached bytes themselves when
// they follow one another in memory and need no rewriting (a read from a
// level-1 chunk), a copy otherwise. The slice's capacity ends with it, so
// that an append to it can never write into the cache.
func (b Batches) Bytes() []byte {
	if b.size == 0 {
		return nil
	}
	if out, ok := b.inPlace(); ok {
		return out
	}
	return b.AppendTo(make([]byte, 0, b.size))
}

// AppendTo appends the batches to dst.
func (b Batches) AppendTo(dst []byte) []byte {
	for _, p := range b.picks {
		n := len(dst)
		dst = append(dst, p.batch...)
		if p.rewrite {
			recordbatch.SetBaseOffset(dst[n:], p.base)
			recordbatch.SetPartitionLeaderEpoch(dst[n:], p.epoch)
		}
	}
	return dst
}

// rewrittenHeader is the prefix of a batch that serving it may change: base
// offset, batch length and partition leader epoch.
const rewrittenHeader = 16

// Pieces appends the batches to pieces as slices of the cached bytes, for
// a vectored write, without copying them: a batch that needs its base
// offset and leader epoch set gets its first 16 bytes rewritten in a copy
// appended to scratch, followed by the rest of the cached batch. Batches
// that follow one another in memory are merged into one piece. It returns
// the grown scratch and pieces. The pieces are read-only: those from the
// cache may have capacity beyond their length.
func (b Batches) Pieces(scratch []byte, pieces [][]byte) ([]byte, [][]byte) {
	for _, p := range b.picks {
		rest := p.batch
		if p.rewrite {
			n := len(scratch)
			scratch = append(scratch, p.batch[:rewrittenHeader]...)
			binary.BigEndian.PutUint64(scratch[n:], uint64(p.base))
			binary.BigEndian.PutUint32(scratch[n+12:], uint32(p.epoch))
			pieces = append(pieces, scratch[n:n+rewrittenHeader:n+rewrittenHeader])
			rest = p.batch[rewrittenHeader:]
		}
		if k := len(pieces) - 1; k >= 0 && adjacent(pieces[k], rest) {
			pieces[k] = pieces[k][:len(pieces[k])+len(rest)]
			continue
		}
		pieces = append(pieces, rest)
	}
	return scratch, pieces
}

// adjacent reports whether next starts where prev ends in the same backing
// array, so that prev extended covers next.
func adjacent(prev, next []byte) bool {
	return len(next) > 0 && cap(prev) >= len(prev)+len(next) && &prev[:len(prev)+1][len(prev)] == &next[0]
}

// inPlace returns the batches as one slice of the cached bytes when no
// batch needs its header rewritten and they follow one another in memory.
func (b Batches) inPlace() ([]byte, bool) {
	first := b.picks[0].batch
	end := len(first)
	for n, p := range b.picks {
		if p.rewrite || len(p.batch) == 0 {
			return nil, false
		}
		if n == 0 {
			continue
		}
		if !adjacent(first[:end], p.batch) {
			return nil, false
		}
		end += len(p.batch)
	}
	return first[:end:end], true
}

// BatchesOf returns records, whole batches with absolute offsets and their
// leader epochs, as Batches that refer to them.
func BatchesOf(records []byte) (Batches, error) {
	var b Batches
	err := recordbatch.Split(records, func(batch []byte, h recordbatch.Header) error {
		b.Add(batch, h.BaseOffset, h.PartitionLeaderEpoch, false)
		return nil
	})
	return b, err
}
