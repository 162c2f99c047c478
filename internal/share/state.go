// Package share holds the state of KIP-932 share groups that does not
// depend on the wire or the store: the delivery state of a share
// partition, its encoding in the metastore, and the assignment of
// partitions to the members of a share group.
//
// A share partition is one topic partition as one share group consumes
// it. Its records below the start offset are done with; the records from
// the start offset up to the end offset are in flight, each available,
// acquired by one member until its lock expires, acknowledged or
// archived; the records from the end offset on have never been handed
// out. Every operation here is a pure function of the partition, the
// arguments and the time it is given, so that the metastore can apply a
// whole request's operations in one transaction and a test can drive
// every transition with a clock of its own.
package share

import (
	"errors"
	"fmt"
)

// State is the delivery state of one in-flight record, numbered as KIP-932
// persists it.
type State int8

const (
	Available    State = 0 // may be acquired
	Acquired     State = 1 // held by one member until its lock expires
	Acknowledged State = 2 // accepted by a consumer: done
	Archived     State = 4 // rejected, or delivered too often: done
)

func (s State) String() string {
	switch s {
	case Available:
		return "available"
	case Acquired:
		return "acquired"
	case Acknowledged:
		return "acknowledged"
	case Archived:
		return "archived"
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// AckType is an acknowledgement type as ShareFetch and ShareAcknowledge
// carry it.
type AckType int8

const (
	AckGap     AckType = 0 // the offset holds no record (compacted, a control record): archived
	AckAccept  AckType = 1
	AckRelease AckType = 2 // back to available, for another delivery
	AckReject  AckType = 3 // archived
	AckRenew   AckType = 4 // the lock is extended (KIP-1222)
)

// Errors of Acknowledge, mapped to Kafka's by the front door.
var (
	// ErrInvalidRecordState: a record acknowledged is not acquired by the
	// member (its lock expired and it went to another, or it was already
	// acknowledged). Kafka's INVALID_RECORD_STATE.
	ErrInvalidRecordState = errors.New("share: record not acquired by the member")
	// ErrInvalidRequest: a batch past the records handed out, or with
	// malformed types. Kafka's INVALID_REQUEST.
	ErrInvalidRequest = errors.New("share: invalid acknowledgement")
)

// Record is the state of one in-flight record.
type Record struct {
	State         State
	DeliveryCount int16  // times acquired
	Member        string // the holder, while Acquired
	LockUntil     int64  // Unix milliseconds the lock ends, while Acquired
}

// Limits are the group's settings that the transitions obey.
type Limits struct {
	// LockMillis is how long an acquisition holds a record
	// (share.record.lock.duration.ms).
	LockMillis int64
	// DeliveryLimit is the number of deliveries after which a record
	// released or whose lock expires is archived instead
	// (share.delivery.count.limit).
	DeliveryLimit int16
	// MaxInFlight bounds the records between the start and end offsets
	// (share.partition.max.record.locks), and so the state's size.
	MaxInFlight int
}

// DefaultLimits are Kafka's defaults.
var DefaultLimits = Limits{LockMillis: 30000, DeliveryLimit: 5, MaxInFlight: 2000}

// Partition is the state of one share partition.
type Partition struct {
	// Start is the share-partition start offset: every record below it
	// is acknowledged or archived.
	Start int64
	// Records holds the records from Start on; Records[i] is offset
	// Start+i. End() is the first offset never handed out.
	Records []Record
}

// New returns the state of a share partition starting at offset start.
func New(start int64) *Partition { return &Partition{Start: start} }

// End is the first offset never acquired.
func (p *Partition) End() int64 { return p.Start + int64(len(p.Records)) }

// Run is a run of offsets acquired with the same delivery count, as
// ShareFetch's AcquiredRecords reports them.
type Run struct {
	First, Last   int64
	DeliveryCount int16
}

// Expire ends the locks that have run out by now: their records become
// available again, or archived when they reached the delivery limit.
// It reports whether anything changed.
func (p *Partition) Expire(now int64, lim Limits) bool {
	changed := false
	for i := range p.Records {
		r := &p.Records[i]
		if r.State == Acquired && r.LockUntil <= now {
			p.release(r, lim)
			changed = true
		}
	}
	if changed {
		p.advance()
	}
	return changed
}

// NextLockExpiry is the earliest time a lock ends, and false when no
// record is acquired.
func (p *Partition) NextLockExpiry() (int64, bool) {
	var t int64
	found := false
	for _, r := range p.Records {
		if r.State == Acquired && (!found || r.LockUntil < t) {
			t, found = r.LockUntil, true
		}
	}
	return t, found
}

// HasAvailable reports whether a record in [from, to) could be acquired
// now: one available in flight, or one past the end within the in-flight
// bound.
func (p *Partition) HasAvailable(to int64, lim Limits) bool {
	for _, r := range p.Records {
		if r.State == Available {
			return true
		}
	}
	return to > p.End() && len(p.Records) < lim.MaxInFlight
}

// FirstAvailable is the lowest offset Acquire could hand out: the first
// available in-flight record, else the end offset.
func (p *Partition) FirstAvailable() int64 {
	for i, r := range p.Records {
		if r.State == Available {
			return p.Start + int64(i)
		}
	}
	return p.End()
}

// Acquire hands member at most n records with offsets in [from, to),
// lowest first: available in-flight records, then records past the end
// offset (to is at most the high watermark, and the end offset does not
// move past Start+MaxInFlight). Each acquired record's delivery count goes
// up and its lock lasts LockMillis from now. Expired locks are ended
// first.
func (p *Partition) Acquire(now int64, member string, from, to int64, n int, lim Limits) []Run {
	p.Expire(now, lim)
	if n <= 0 || from >= to {
		return nil
	}
	from = max(from, p.Start)
	if to > p.End() && from <= p.End() {
		limit := p.Start + int64(lim.MaxInFlight)
		for end := p.End(); end < to && end < limit; end++ {
			p.Records = append(p.Records, Record{})
		}
	}
	var out []Run
	for off := from; off < to && off < p.End() && n > 0; off++ {
		r := &p.Records[off-p.Start]
		if r.State != Available {
			continue
		}
		r.State, r.Member, r.LockUntil = Acquired, member, now+lim.LockMillis
		r.DeliveryCount++
		n--
		if n := len(out); n > 0 && out[n-1].Last == off-1 && out[n-1].DeliveryCount == r.DeliveryCount {
			out[n-1].Last = off
		} else {
			out = append(out, Run{First: off, Last: off, DeliveryCount: r.DeliveryCount})
		}
	}
	return out
}

// Ack is one acknowledgement batch: Types holds one type for the whole
// range, or one per offset.
type Ack struct {
	First, Last int64
	Types       []AckType
}

// CheckAcks checks batches as a request carries them: each well formed,
// in ascending order without overlap, with types up to maxType.
func CheckAcks(batches []Ack, maxType AckType) error {
	prev := int64(-1)
	for _, b := range batches {
		if b.First < 0 || b.First > b.Last || b.First <= prev || len(b.Types) == 0 ||
			len(b.Types) > 1 && int64(len(b.Types)) != b.Last-b.First+1 {
			return ErrInvalidRequest
		}
		for _, t := range b.Types {
			if t < AckGap || t > maxType {
				return ErrInvalidRequest
			}
		}
		prev = b.Last
	}
	return nil
}

// Acknowledge applies a member's acknowledgement batches, all or none:
// every record they name from the start offset on must be acquired by
// member (ErrInvalidRecordState), and none may lie at or past the end
// offset (ErrInvalidRequest). Offsets below the start offset are done
// with and skipped. Locks that ran out by now are ended first, so that a
// member cannot acknowledge a record whose lock it lost.
func (p *Partition) Acknowledge(now int64, member string, batches []Ack, lim Limits) error {
	if err := CheckAcks(batches, AckRenew); err != nil {
		return err
	}
	p.Expire(now, lim)
	for _, b := range batches {
		if b.Last >= p.End() {
			return ErrInvalidRequest
		}
		for off := max(b.First, p.Start); off <= b.Last; off++ {
			if r := p.Records[off-p.Start]; r.State != Acquired || r.Member != member {
				return ErrInvalidRecordState
			}
		}
	}
	for _, b := range batches {
		for off := max(b.First, p.Start); off <= b.Last; off++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[off-b.First]
			}
			r := &p.Records[off-p.Start]
			switch t {
			case AckAccept:
				*r = Record{State: Acknowledged, DeliveryCount: r.DeliveryCount}
			case AckGap, AckReject:
				*r = Record{State: Archived, DeliveryCount: r.DeliveryCount}
			case AckRelease:
				p.release(r, lim)
			case AckRenew:
				r.LockUntil = now + lim.LockMillis
			}
		}
	}
	p.advance()
	return nil
}

// ReleaseMember releases every record member holds, as when its share
// session or membership ends. It reports whether anything changed.
func (p *Partition) ReleaseMember(member string, lim Limits) bool {
	changed := false
	for i := range p.Records {
		if r := &p.Records[i]; r.State == Acquired && r.Member == member {
			p.release(r, lim)
			changed = true
		}
	}
	if changed {
		p.advance()
	}
	return changed
}

// Reset moves the start offset to offset and forgets every in-flight
// record, as AlterShareGroupOffsets does (only while the group has no
// members).
func (p *Partition) Reset(offset int64) {
	p.Start, p.Records = offset, nil
}

// SkipTo moves the start offset up to logStart when the log no longer
// holds the records below it (retention, DeleteRecords); their state goes
// with them.
func (p *Partition) SkipTo(logStart int64) bool {
	if logStart <= p.Start {
		return false
	}
	if logStart >= p.End() {
		p.Start, p.Records = logStart, nil
		return true
	}
	p.Records = append(p.Records[:0:0], p.Records[logStart-p.Start:]...)
	p.Start = logStart
	p.advance()
	return true
}

// Count is the number of in-flight records in each state.
func (p *Partition) Count() map[State]int {
	c := map[State]int{}
	for _, r := range p.Records {
		c[r.State]++
	}
	return c
}

// release makes r available, or archived at the delivery limit.
func (p *Partition) release(r *Record, lim Limits) {
	if lim.DeliveryLimit > 0 && r.DeliveryCount >= lim.DeliveryLimit {
		*r = Record{State: Archived, DeliveryCount: r.DeliveryCount}
		return
	}
	*r = Record{State: Available, DeliveryCount: r.DeliveryCount}
}

// advance moves the start offset past the records done with.
func (p *Partition) advance() {
	n := 0
	for n < len(p.Records) && (p.Records[n].State == Acknowledged || p.Records[n].State == Archived) {
		n++
	}
	if n == 0 {
		return
	}
	p.Start += int64(n)
	p.Records = append(p.Records[:0:0], p.Records[n:]...)
}
