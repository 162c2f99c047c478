package share

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The in-flight records of a share partition are stored in the metastore
// as one value (the start offset has a column of its own):
//
//	version    byte, 1
//	members    uvarint count, then each: uvarint length, bytes
//	runs       uvarint count, then each run of records alike:
//	           uvarint length, state byte, uvarint delivery count,
//	           and for acquired records uvarint member index and
//	           varint lock end (Unix milliseconds)
//
// Records in flight are mostly runs (a batch acquired together,
// acknowledged together), so the value stays small; the in-flight bound
// of the group keeps it bounded.

const codecVersion = 1

// Decoding limits: a value past them is corrupt, not a reason to allocate.
const (
	maxDecodedRecords = 1 << 20
	maxMemberLen      = 1 << 10
)

// ErrCorruptState is the error of Decode for a value it cannot read.
var ErrCorruptState = errors.New("share: corrupt share-partition state")

// Encode returns the stored form of p's in-flight records.
func (p *Partition) Encode() []byte {
	members := map[string]uint64{}
	var names []string
	for _, r := range p.Records {
		if r.State == Acquired {
			if _, ok := members[r.Member]; !ok {
				members[r.Member] = uint64(len(names))
				names = append(names, r.Member)
			}
		}
	}
	b := []byte{codecVersion}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	type run struct {
		n int
		r Record
	}
	var runs []run
	for _, r := range p.Records {
		if r.State != Acquired {
			r.Member, r.LockUntil = "", 0
		}
		if k := len(runs); k > 0 && runs[k-1].r == r {
			runs[k-1].n++
			continue
		}
		runs = append(runs, run{1, r})
	}
	b = binary.AppendUvarint(b, uint64(len(runs)))
	for _, rn := range runs {
		b = binary.AppendUvarint(b, uint64(rn.n))
		b = append(b, byte(rn.r.State))
		b = binary.AppendUvarint(b, uint64(rn.r.DeliveryCount))
		if rn.r.State == Acquired {
			b = binary.AppendUvarint(b, members[rn.r.Member])
			b = binary.AppendVarint(b, rn.r.LockUntil)
		}
	}
	return b
}

// Decode reads the state stored by Encode for a partition starting at
// start. An empty value is a partition with nothing in flight.
func Decode(start int64, b []byte) (*Partition, error) {
	p := New(start)
	if len(b) == 0 {
		return p, nil
	}
	d := decoder{b: b}
	if v := d.byte(); v != codecVersion {
		return nil, fmt.Errorf("%w: version %d", ErrCorruptState, v)
	}
	nm := d.uvarint(maxDecodedRecords)
	names := make([]string, 0, min(nm, 64))
	for i := uint64(0); i < nm && d.err == nil; i++ {
		l := d.uvarint(maxMemberLen)
		names = append(names, string(d.bytes(int(l))))
	}
	nr := d.uvarint(maxDecodedRecords)
	total := 0
	for i := uint64(0); i < nr && d.err == nil; i++ {
		n := d.uvarint(maxDecodedRecords)
		st := State(d.byte())
		dc := d.uvarint(1<<15 - 1)
		r := Record{State: st, DeliveryCount: int16(dc)}
		switch st {
		case Available, Acknowledged, Archived:
		case Acquired:
			m := d.uvarint(uint64(len(names)))
			if d.err == nil && m >= uint64(len(names)) {
				d.err = ErrCorruptState
			}
			if d.err == nil {
				r.Member = names[m]
			}
			r.LockUntil = d.varint()
		default:
			d.fail()
		}
		if d.err != nil {
			break
		}
		if n == 0 || total+int(n) > maxDecodedRecords {
			d.fail()
			break
		}
		total += int(n)
		for range n {
			p.Records = append(p.Records, r)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return nil, d.err
	}
	if start > 1<<62 || start < 0 {
		return nil, fmt.Errorf("%w: start offset %d", ErrCorruptState, start)
	}
	return p, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorruptState
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// uvarint reads a uvarint of at most limit.
func (d *decoder) uvarint(limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > limit {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
