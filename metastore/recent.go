package metastore

import (
	"fmt"
	"strconv"
)

// A producer's recent batches are stored by both backends as one JSON
// array of [first_seq, last_seq, base_offset] triples, oldest first:
// [[0,4,100],[5,5,105]]. It stays readable with psql and the sqlite3
// shell, and PostgreSQL keeps it as jsonb.

// AppendRecent appends recent, encoded, to dst.
func AppendRecent(dst []byte, recent []RecentBatch) []byte {
	dst = append(dst, '[')
	for i, r := range recent {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(r.FirstSeq), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(r.LastSeq), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, r.BaseOffset, 10)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// DecodeRecent parses what AppendRecent writes. JSON whitespace is allowed
// (PostgreSQL prints jsonb as [[0, 4, 100]]); anything else is refused, as
// are sequences outside [0, 2^31) and more than MaxRecentBatches batches,
// which no commit writes. An empty array decodes to an empty, non-nil
// slice. It is hand-written because it runs for every producer of every
// commit.
func DecodeRecent(b []byte) ([]RecentBatch, error) {
	p := recentParser{b: b}
	if !p.consume('[') {
		return nil, p.fail("want '['")
	}
	recent := []RecentBatch{}
	if !p.consume(']') {
		for {
			if len(recent) == MaxRecentBatches {
				return nil, p.fail(fmt.Sprintf("more than %d batches", MaxRecentBatches))
			}
			var r RecentBatch
			var ok bool
			if !p.consume('[') {
				return nil, p.fail("want '['")
			}
			if r.FirstSeq, ok = p.seq(); !ok || !p.consume(',') {
				return nil, p.fail("bad first sequence")
			}
			if r.LastSeq, ok = p.seq(); !ok || !p.consume(',') {
				return nil, p.fail("bad last sequence")
			}
			if r.BaseOffset, ok = p.int64(); !ok || !p.consume(']') {
				return nil, p.fail("bad base offset")
			}
			recent = append(recent, r)
			if p.consume(']') {
				break
			}
			if !p.consume(',') {
				return nil, p.fail("want ',' or ']'")
			}
		}
	}
	p.space()
	if p.i != len(b) {
		return nil, p.fail("trailing bytes")
	}
	return recent, nil
}

type recentParser struct {
	b []byte
	i int
}

func (p *recentParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *recentParser) consume(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *recentParser) int64() (int64, bool) {
	p.space()
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	p.i = j
	return v, true
}

// seq reads a producer sequence: an integer in [0, 2^31).
func (p *recentParser) seq() (int32, bool) {
	v, ok := p.int64()
	if !ok || v < 0 || v > 1<<31-1 {
		return 0, false
	}
	return int32(v), true
}

func (p *recentParser) fail(msg string) error {
	return fmt.Errorf("malformed producer state: %s at byte %d of %q", msg, p.i, p.b)
}
