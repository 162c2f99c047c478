package share

import (
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"
)

var lim = Limits{LockMillis: 1000, DeliveryLimit: 3, MaxInFlight: 100}

func states(p *Partition) []State {
	var out []State
	for _, r := range p.Records {
		out = append(out, r.State)
	}
	return out
}

func accept(first, last int64) Ack { return Ack{First: first, Last: last, Types: []AckType{AckAccept}} }

// TestAcquireNewRecords: available records past the end offset are acquired
// up to the high watermark and the count asked, with one delivery and a
// lock of LockMillis.
func TestAcquireNewRecords(t *testing.T) {
	p := New(10)
	got := p.Acquire(0, "a", 10, 15, 3, lim)
	if want := []Run{{10, 12, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("acquired %v, want %v", got, want)
	}
	if p.End() != 15 || !reflect.DeepEqual(states(p), []State{Acquired, Acquired, Acquired, Available, Available}) {
		t.Fatalf("end %d states %v", p.End(), states(p))
	}
	if r := p.Records[0]; r.Member != "a" || r.LockUntil != 1000 || r.DeliveryCount != 1 {
		t.Fatalf("record %+v", r)
	}
	got = p.Acquire(0, "b", 10, 15, 10, lim)
	if want := []Run{{13, 14, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second acquire %v, want %v", got, want)
	}
	if got := p.Acquire(0, "c", 10, 15, 10, lim); got != nil {
		t.Fatalf("acquired %v with everything held", got)
	}
}

// TestAcquireBoundedInFlight: the end offset never passes
// Start+MaxInFlight.
func TestAcquireBoundedInFlight(t *testing.T) {
	p := New(0)
	got := p.Acquire(0, "a", 0, 1000, 1000, Limits{LockMillis: 1, DeliveryLimit: 5, MaxInFlight: 4})
	if want := []Run{{0, 3, 1}}; !reflect.DeepEqual(got, want) || p.End() != 4 {
		t.Fatalf("acquired %v end %d", got, p.End())
	}
}

// TestAcceptAdvancesStart: accepted records are acknowledged and the start
// offset moves past a done prefix only.
func TestAcceptAdvancesStart(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 4, 4, lim)
	if err := p.Acknowledge(1, "a", []Ack{accept(1, 2)}, lim); err != nil {
		t.Fatal(err)
	}
	if p.Start != 0 || !reflect.DeepEqual(states(p), []State{Acquired, Acknowledged, Acknowledged, Acquired}) {
		t.Fatalf("start %d states %v", p.Start, states(p))
	}
	if err := p.Acknowledge(1, "a", []Ack{accept(0, 0)}, lim); err != nil {
		t.Fatal(err)
	}
	if p.Start != 3 || !reflect.DeepEqual(states(p), []State{Acquired}) {
		t.Fatalf("start %d states %v", p.Start, states(p))
	}
}

// TestReleaseRedelivers: a released record is available and is acquired
// again with a higher delivery count.
func TestReleaseRedelivers(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 2, 2, lim)
	if err := p.Acknowledge(1, "a", []Ack{{First: 0, Last: 1, Types: []AckType{AckRelease, AckAccept}}}, lim); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(states(p), []State{Available, Acknowledged}) || p.Records[0].Member != "" {
		t.Fatalf("states %v %+v", states(p), p.Records[0])
	}
	if got, want := p.Acquire(2, "b", 0, 2, 10, lim), []Run{{0, 0, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("redelivered %v, want %v", got, want)
	}
}

// TestRejectAndGapArchive: reject and gap archive their records.
func TestRejectAndGapArchive(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 3, 3, lim)
	err := p.Acknowledge(1, "a", []Ack{{First: 0, Last: 1, Types: []AckType{AckReject, AckGap}}}, lim)
	if err != nil {
		t.Fatal(err)
	}
	if p.Start != 2 || !reflect.DeepEqual(states(p), []State{Acquired}) {
		t.Fatalf("start %d states %v", p.Start, states(p))
	}
}

// TestRenewExtendsLock: renew moves the lock's end and keeps the record
// acquired; without it the lock would have run out.
func TestRenewExtendsLock(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 1, 1, lim)
	if err := p.Acknowledge(900, "a", []Ack{{First: 0, Last: 0, Types: []AckType{AckRenew}}}, lim); err != nil {
		t.Fatal(err)
	}
	if p.Records[0].LockUntil != 1900 {
		t.Fatalf("lock until %d", p.Records[0].LockUntil)
	}
	p.Expire(1500, lim)
	if p.Records[0].State != Acquired {
		t.Fatalf("renewed lock expired: %v", p.Records[0].State)
	}
	if err := p.Acknowledge(1600, "a", []Ack{accept(0, 0)}, lim); err != nil {
		t.Fatal(err)
	}
}

// TestLockExpiry: a lock that runs out makes its record available for
// another member, and the old holder can no longer acknowledge it.
func TestLockExpiry(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 1, 1, lim)
	if exp, ok := p.NextLockExpiry(); !ok || exp != 1000 {
		t.Fatalf("next expiry %d %v", exp, ok)
	}
	if p.Expire(999, lim) {
		t.Fatal("expired before its time")
	}
	if got, want := p.Acquire(1000, "b", 0, 1, 1, lim), []Run{{0, 0, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after expiry acquired %v, want %v", got, want)
	}
	if err := p.Acknowledge(1001, "a", []Ack{accept(0, 0)}, lim); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack by the old holder: %v", err)
	}
	if err := p.Acknowledge(1001, "b", []Ack{accept(0, 0)}, lim); err != nil {
		t.Fatal(err)
	}
}

// TestAckAfterOwnLockExpired: a member acknowledging a record whose lock
// has run out is refused, even when nobody has acquired it since.
func TestAckAfterOwnLockExpired(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 1, 1, lim)
	if err := p.Acknowledge(1000, "a", []Ack{accept(0, 0)}, lim); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack after expiry: %v", err)
	}
	if p.Records[0].State != Available {
		t.Fatalf("state %v", p.Records[0].State)
	}
}

// TestDeliveryLimitArchives: at the delivery limit a release or an expiry
// archives the record instead of making it available.
func TestDeliveryLimitArchives(t *testing.T) {
	p := New(0)
	for i := range 3 {
		now := int64(i) * 2000
		if got := p.Acquire(now, "a", 0, 1, 1, lim); len(got) != 1 || got[0].DeliveryCount != int16(i+1) {
			t.Fatalf("delivery %d: %v", i+1, got)
		}
		if i < 2 {
			if err := p.Acknowledge(now+1, "a", []Ack{{First: 0, Last: 0, Types: []AckType{AckRelease}}}, lim); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The third delivery's lock runs out: archived, the start moves on.
	p.Expire(10000, lim)
	if p.Start != 1 || len(p.Records) != 0 {
		t.Fatalf("start %d records %v", p.Start, p.Records)
	}
	q := New(0)
	q.Acquire(0, "a", 0, 1, 1, Limits{LockMillis: 10, DeliveryLimit: 1, MaxInFlight: 10})
	if err := q.Acknowledge(1, "a", []Ack{{First: 0, Last: 0, Types: []AckType{AckRelease}}}, Limits{LockMillis: 10, DeliveryLimit: 1, MaxInFlight: 10}); err != nil {
		t.Fatal(err)
	}
	if q.Start != 1 {
		t.Fatalf("release at the limit left start at %d", q.Start)
	}
}

// TestAcknowledgeAllOrNothing: one bad batch leaves every record as it was.
func TestAcknowledgeAllOrNothing(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 2, 1, lim) // 0 acquired, 1 available
	err := p.Acknowledge(1, "a", []Ack{accept(0, 0), accept(1, 1)}, lim)
	if !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack of an available record: %v", err)
	}
	if !reflect.DeepEqual(states(p), []State{Acquired, Available}) {
		t.Fatalf("states changed: %v", states(p))
	}
	if err := p.Acknowledge(1, "a", []Ack{accept(0, 2)}, lim); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("ack past the end: %v", err)
	}
	if err := p.Acknowledge(1, "b", []Ack{accept(0, 0)}, lim); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack by another member: %v", err)
	}
}

// TestAckBelowStartSkipped: offsets already done with are skipped.
func TestAckBelowStartSkipped(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 2, 2, lim)
	if err := p.Acknowledge(1, "a", []Ack{accept(0, 0)}, lim); err != nil {
		t.Fatal(err)
	}
	if err := p.Acknowledge(1, "a", []Ack{accept(0, 1)}, lim); err != nil {
		t.Fatalf("ack overlapping the done prefix: %v", err)
	}
	if p.Start != 2 {
		t.Fatalf("start %d", p.Start)
	}
}

// TestCheckAcks: malformed batches are INVALID_REQUEST.
func TestCheckAcks(t *testing.T) {
	bad := [][]Ack{
		{{First: 3, Last: 2, Types: []AckType{1}}},
		{{First: 0, Last: 2, Types: nil}},
		{{First: 0, Last: 2, Types: []AckType{1, 1}}},
		{{First: 0, Last: 0, Types: []AckType{5}}},
		{{First: 0, Last: 0, Types: []AckType{-1}}},
		{accept(0, 3), accept(3, 4)},
		{accept(4, 5), accept(0, 1)},
		{{First: -1, Last: 0, Types: []AckType{1}}},
	}
	for i, b := range bad {
		if err := CheckAcks(b, AckRenew); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if err := CheckAcks([]Ack{{First: 0, Last: 0, Types: []AckType{AckRenew}}}, AckReject); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("renew above the version's types: %v", err)
	}
	if err := CheckAcks([]Ack{accept(0, 3), {First: 4, Last: 5, Types: []AckType{2, 3}}}, AckReject); err != nil {
		t.Errorf("good batches: %v", err)
	}
}

// TestReleaseMember: a member's records go back, others' stay.
func TestReleaseMember(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 2, 1, lim)
	p.Acquire(0, "b", 0, 2, 1, lim)
	if !p.ReleaseMember("a", lim) {
		t.Fatal("nothing released")
	}
	if !reflect.DeepEqual(states(p), []State{Available, Acquired}) || p.Records[1].Member != "b" {
		t.Fatalf("states %v", states(p))
	}
	if p.ReleaseMember("a", lim) {
		t.Fatal("released twice")
	}
}

// TestResetAndSkipTo: AlterShareGroupOffsets' reset, and the start moving
// with the log's start.
func TestResetAndSkipTo(t *testing.T) {
	p := New(0)
	p.Acquire(0, "a", 0, 5, 5, lim)
	if !p.SkipTo(2) || p.Start != 2 || len(p.Records) != 3 {
		t.Fatalf("skip: start %d records %d", p.Start, len(p.Records))
	}
	if p.SkipTo(1) {
		t.Fatal("skipped backwards")
	}
	p.SkipTo(9)
	if p.Start != 9 || len(p.Records) != 0 {
		t.Fatalf("skip past end: start %d records %d", p.Start, len(p.Records))
	}
	p.Reset(3)
	if p.Start != 3 || p.End() != 3 {
		t.Fatalf("reset: %d %d", p.Start, p.End())
	}
}

// TestCodecRoundTrip: every state survives the stored form.
func TestCodecRoundTrip(t *testing.T) {
	p := New(7)
	p.Acquire(5, "member-a", 7, 20, 4, lim)
	p.Acquire(6, "member-b", 7, 20, 3, lim)
	if err := p.Acknowledge(7, "member-a", []Ack{{First: 7, Last: 10, Types: []AckType{AckAccept, AckRelease, AckReject, AckRenew}}}, lim); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(p.Start, p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, p)
	}
	if e, err := Decode(3, nil); err != nil || e.Start != 3 || len(e.Records) != 0 {
		t.Fatalf("empty: %+v %v", e, err)
	}
	for _, bad := range [][]byte{{2}, {1, 0, 1, 1, 1}, {1, 0, 1, 1, 9, 0}, {1, 1, 5, 'a'}, append(New(0).Encode(), 0)} {
		if _, err := Decode(0, bad); !errors.Is(err, ErrCorruptState) {
			t.Errorf("Decode(%v): %v", bad, err)
		}
	}
}

// TestAssign: every partition has a member and every member a partition,
// and the load is even on both sides.
func TestAssign(t *testing.T) {
	topic := uuid.New()
	for _, tc := range []struct{ members, parts int }{{1, 4}, {3, 4}, {4, 4}, {8, 2}, {32, 4}, {5, 3}} {
		ms := map[string][]uuid.UUID{}
		for i := range tc.members {
			ms[string(rune('a'+i%26))+string(rune('A'+i/26))] = []uuid.UUID{topic}
		}
		a := Assign(ms, map[uuid.UUID]int32{topic: int32(tc.parts)})
		perPart := map[int32]int{}
		minP, maxP := 1<<30, 0
		for _, tps := range a {
			n := 0
			for _, tp := range tps {
				for _, p := range tp.Partitions {
					perPart[p]++
					n++
				}
			}
			minP, maxP = min(minP, n), max(maxP, n)
		}
		if len(perPart) != tc.parts || minP == 0 || maxP-minP > 1 {
			t.Errorf("%d members on %d partitions: per partition %v, per member %d..%d", tc.members, tc.parts, perPart, minP, maxP)
		}
		lo, hi := 1<<30, 0
		for _, n := range perPart {
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > 1 {
			t.Errorf("%d members on %d partitions: members per partition %v", tc.members, tc.parts, perPart)
		}
	}
	// A member subscribed to nothing known gets nothing.
	a := Assign(map[string][]uuid.UUID{"x": {uuid.New()}}, map[uuid.UUID]int32{topic: 2})
	if len(a["x"]) != 0 {
		t.Fatalf("assigned %v", a["x"])
	}
}
