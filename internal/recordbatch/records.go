package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// A v2 record, inside a batch's (decompressed) records section:
//
//	length          varint  bytes of the record after this field
//	attributes      int8    unused, 0
//	timestampDelta  varlong from the batch's baseTimestamp
//	offsetDelta     varint  from the batch's baseOffset
//	keyLength       varint  -1: null key
//	key             bytes
//	valueLength     varint  -1: null value (a tombstone)
//	value           bytes
//	headersCount    varint
//	headers         per header: keyLength varint (not null), key,
//	                valueLength varint (-1: null), value
//
// Varints are zigzag-encoded, as in protocol buffers.

// ErrRecords wraps every error WalkRecords, DecodeRecords and EachRecord
// find in a batch's records: records that do not decompress, a record
// that does not parse, or records that disagree with the header's records
// count and lastOffsetDelta. Kafka refuses such a batch with
// INVALID_RECORD.
var ErrRecords = errors.New("recordbatch: invalid records")

// RecordInfo is what WalkRecords reads of one record. The key, value and
// header bytes are skipped, not kept: a walk costs memory in proportion to
// its reader's buffer, never to the records.
type RecordInfo struct {
	Index          int32 // position in the batch, from 0
	OffsetDelta    int32
	TimestampDelta int64
	KeyLength      int32 // -1: null key
	ValueLength    int32 // -1: null value
	Headers        int32
}

// walkBufferSize is how much of a compressed batch's records a walk holds
// at a time.
const walkBufferSize = 32 << 10

// Walker reads the records of batches one batch at a time. It keeps its
// buffer between walks; the zero value is ready. Not safe for concurrent
// use.
type Walker struct {
	buf []byte
}

// WalkRecords reads the records section of a batch with header h, either
// body (an uncompressed batch's records, in memory) or, when src is not
// nil, the decompressed stream src. It checks that every record parses and
// fills its declared length exactly, that there are exactly h.NumRecords
// records with offset deltas 0, 1, 2, ... (so that lastOffsetDelta, which
// Check compared with the count, is the last record's), and that nothing
// follows the last record. fn, if not nil, sees each record; its error
// stops the walk and is returned unchanged. Other errors wrap ErrRecords,
// or are src's read errors (wrapped).
//
// These are the checks a Kafka broker applies to the records of a batch a
// client produces (the produce rule; decode.go has the rule of stored
// batches); a batch whose header claims more offsets than it holds records
// would otherwise move its partition's high watermark by what it claims.
func (w *Walker) WalkRecords(h Header, body []byte, src io.Reader, fn func(RecordInfo) error) error {
	r := recReader{buf: body}
	if src != nil {
		if cap(w.buf) < walkBufferSize {
			w.buf = make([]byte, walkBufferSize)
		}
		r = recReader{buf: w.buf[:0], src: src, space: w.buf[:walkBufferSize]}
	}
	for i := int32(0); ; i++ {
		more, err := r.more()
		if err != nil {
			return err
		}
		if !more {
			if i != h.NumRecords {
				return fmt.Errorf("%w: the batch holds %d records, its header claims %d", ErrRecords, i, h.NumRecords)
			}
			return nil
		}
		if i == h.NumRecords {
			return fmt.Errorf("%w: %d bytes or more after the %d records the header claims", ErrRecords, r.len(), h.NumRecords)
		}
		info, err := r.record(i)
		if err != nil {
			return err
		}
		if info.OffsetDelta != i {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrRecords, i, info.OffsetDelta)
		}
		if fn != nil {
			if err := fn(info); err != nil {
				return err
			}
		}
	}
}

// recReader reads varints and skips bytes, from buf and then, refilling
// buf from space, from src.
type recReader struct {
	buf   []byte // unread bytes
	src   io.Reader
	space []byte // buf's backing array when src is set
	err   error  // src's last error, io.EOF at its end
	// readErr is a read error of src other than its end, which stopped
	// the walk.
	readErr error
}

func (r *recReader) len() int { return len(r.buf) }

// more reports whether there is at least one more byte to read.
func (r *recReader) more() (bool, error) {
	if len(r.buf) > 0 {
		return true, nil
	}
	if err := r.fill(1); err != nil && len(r.buf) == 0 {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return len(r.buf) > 0, nil
}

// fill reads from src until buf holds at least n bytes (n at most the
// space's size), or src ends.
func (r *recReader) fill(n int) error {
	if r.src == nil {
		return io.EOF
	}
	if len(r.buf) >= n {
		return nil
	}
	copy(r.space, r.buf)
	r.buf = r.space[:len(r.buf)]
	for len(r.buf) < n && r.err == nil {
		var m int
		m, r.err = r.src.Read(r.space[len(r.buf):])
		r.buf = r.space[:len(r.buf)+m]
	}
	if len(r.buf) >= n {
		return nil
	}
	if r.err == io.EOF {
		return io.EOF
	}
	return fmt.Errorf("read records: %w", r.err)
}

// varint reads one zigzag varint of at most 64 bits into v and returns
// how many bytes it took; limit is how many bytes the field may take (what
// is left of its record). 0 means there is no such varint.
func (r *recReader) varint(limit int64) (v int64, n int) {
	if len(r.buf) < maxVarintLen && r.src != nil {
		if err := r.fill(maxVarintLen); err != nil && !errors.Is(err, io.EOF) {
			r.readErr = err
			return 0, 0
		}
	}
	b := r.buf
	if int64(len(b)) > limit {
		b = b[:limit]
	}
	v, n = binary.Varint(b)
	if n <= 0 {
		return 0, 0
	}
	r.buf = r.buf[n:]
	return v, n
}

// maxVarintLen is the longest encoding of a 64-bit varint.
const maxVarintLen = binary.MaxVarintLen64

// skip discards n bytes; it reports false when the records end first.
func (r *recReader) skip(n int64) bool {
	if n <= int64(len(r.buf)) {
		r.buf = r.buf[n:]
		return true
	}
	for n > 0 {
		if len(r.buf) == 0 {
			if err := r.fill(1); err != nil {
				if !errors.Is(err, io.EOF) {
					r.readErr = err
				}
				return false
			}
		}
		m := int(min(n, int64(len(r.buf))))
		r.buf = r.buf[m:]
		n -= int64(m)
	}
	return true
}

// record reads record index, checking that its fields fill its length.
func (r *recReader) record(index int32) (RecordInfo, error) {
	info := RecordInfo{Index: index}
	length, n := r.varint(maxVarintLen)
	if n == 0 {
		return info, r.fieldErr(index, "length", "is not a varint")
	}
	if length < 1 || length > math.MaxInt32 {
		return info, fmt.Errorf("%w: record %d: length %d", ErrRecords, index, length)
	}
	rec := recordFields{r: r, index: index, left: length}
	if !rec.skip(1) { // attributes
		return info, rec.err("attributes")
	}
	var ok bool
	if info.TimestampDelta, ok = rec.varint(); !ok {
		return info, rec.err("timestampDelta")
	}
	od, ok := rec.varint()
	if !ok || od < math.MinInt32 || od > math.MaxInt32 {
		return info, rec.err("offsetDelta")
	}
	info.OffsetDelta = int32(od)
	kl, ok := rec.bytes(true)
	if !ok {
		return info, rec.err("key")
	}
	vl, ok := rec.bytes(true)
	if !ok {
		return info, rec.err("value")
	}
	info.KeyLength, info.ValueLength = int32(kl), int32(vl)
	hc, ok := rec.varint()
	// Each header takes at least two bytes.
	if !ok || hc < 0 || hc > rec.left/2 {
		return info, rec.err("headersCount")
	}
	info.Headers = int32(hc)
	for range hc {
		if _, ok := rec.bytes(false); !ok {
			return info, rec.err("header key")
		}
		if _, ok := rec.bytes(true); !ok {
			return info, rec.err("header value")
		}
	}
	if rec.left != 0 {
		return info, fmt.Errorf("%w: record %d: %d bytes of its length %d left after its fields", ErrRecords, index, rec.left, length)
	}
	return info, nil
}

// recordFields reads the fields of one record within its length.
type recordFields struct {
	r     *recReader
	index int32
	left  int64 // bytes of the record not read yet
}

func (f *recordFields) varint() (int64, bool) {
	v, n := f.r.varint(f.left)
	f.left -= int64(n)
	return v, n > 0
}

func (f *recordFields) skip(n int64) bool {
	if n > f.left || !f.r.skip(n) {
		return false
	}
	f.left -= n
	return true
}

// bytes reads a length (-1 when null is allowed) and skips that many bytes.
func (f *recordFields) bytes(null bool) (int64, bool) {
	n, ok := f.varint()
	switch {
	case !ok:
		return n, false
	case n == -1 && null:
		return n, true
	case n < 0:
		return n, false
	}
	return n, f.skip(n)
}

// err describes a field that does not parse within the record, or the
// records stream's read error.
func (f *recordFields) err(field string) error {
	return f.r.fieldErr(f.index, field, "does not parse within the record")
}

func (r *recReader) fieldErr(index int32, field, what string) error {
	if r.readErr != nil {
		return r.readErr
	}
	return fmt.Errorf("%w: record %d: %s %s", ErrRecords, index, field, what)
}
