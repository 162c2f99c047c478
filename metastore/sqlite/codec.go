package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/stratalog/strata/metastore"
)

// The chunk skip list and the producer's recent batches are stored as JSON
// arrays, readable with the sqlite3 shell: [3,7] and
// [[first_seq,last_seq,base_offset],...].

// encodeSkip returns nil (SQL NULL) for an empty list.
func encodeSkip(skip []int32) []byte {
	if len(skip) == 0 {
		return nil
	}
	b := make([]byte, 0, 2+len(skip)*4)
	b = append(b, '[')
	for i, v := range skip {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, ']')
}

// decodeSkip returns nil for NULL or an empty list.
func decodeSkip(b []byte) ([]int32, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var skip []int32
	if err := json.Unmarshal(b, &skip); err != nil {
		return nil, fmt.Errorf("decode chunk skip list: %w", err)
	}
	if len(skip) == 0 {
		return nil, nil
	}
	return skip, nil
}

func encodeRecent(recent []metastore.RecentBatch) []byte {
	b := make([]byte, 0, 2+len(recent)*24)
	b = append(b, '[')
	for i, r := range recent {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(r.FirstSeq), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.LastSeq), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.BaseOffset, 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

// decodeRecent parses what encodeRecent writes; JSON whitespace is allowed.
// It is hand-written because it runs for every producer of every commit.
func decodeRecent(b []byte) ([]metastore.RecentBatch, error) {
	p := parser{b: b}
	if !p.consume('[') {
		return nil, p.fail("want '['")
	}
	var recent []metastore.RecentBatch
	if !p.consume(']') {
		for {
			var r metastore.RecentBatch
			var ok bool
			if !p.consume('[') {
				return nil, p.fail("want '['")
			}
			if r.FirstSeq, ok = p.int32(); !ok || !p.consume(',') {
				return nil, p.fail("bad first sequence")
			}
			if r.LastSeq, ok = p.int32(); !ok || !p.consume(',') {
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
	if recent == nil {
		recent = []metastore.RecentBatch{}
	}
	return recent, nil
}

type parser struct {
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) consume(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) int64() (int64, bool) {
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

func (p *parser) int32() (int32, bool) {
	v, ok := p.int64()
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

func (p *parser) fail(msg string) error {
	return fmt.Errorf("decode producer batches: %s at byte %d of %q", msg, p.i, p.b)
}
