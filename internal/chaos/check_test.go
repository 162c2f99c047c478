package chaos

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// builder writes histories by hand: every op takes 10 ns to invoke and 10
// more to complete, in the order written.
type builder struct {
	ops []Op
	t   int64
}

func (b *builder) op(o Op) *Op {
	b.t += 10
	o.Invoke = b.t
	b.t += 10
	o.Complete = b.t
	if o.Outcome == "" {
		o.Outcome = OK
	}
	o.Index = int64(len(b.ops))
	b.ops = append(b.ops, o)
	return &b.ops[len(b.ops)-1]
}

func idemValue(part int32, seq int64) string { return fmt.Sprintf("idem-0/%d/%d", part, seq) }
func aloValue(seq int64) string              { return fmt.Sprintf("alo-0/%d", seq) }

func recs(from, to int64, value func(off int64) string) []Rec {
	var out []Rec
	for off := from; off < to; off++ {
		out = append(out, Rec{Offset: off, Value: value(off)})
	}
	return out
}

// clean is a history with no anomaly: an idempotent producer writes 10
// records to each of t/0 and t/1, an at-least-once producer 5 to a/0 (one
// of them twice, which it may), a group of one member consumes and commits
// t, a reader reads everything from the start, a watcher observes high
// watermarks and committed offsets, and the final read covers it all. A
// fault is started and healed during it.
func clean() *builder {
	b := &builder{}
	b.op(Op{Process: ProcessNemesis, Type: OpFault, Fault: "node-kill", Target: "n1", Value: "start"})
	for part := int32(0); part < 2; part++ {
		for seq := int64(0); seq < 10; seq++ {
			b.op(Op{Process: "idem-0", Type: OpProduce, Workload: WorkloadIdempotent, Topic: "t", Partition: part, Seq: seq, Offset: seq, Value: idemValue(part, seq)})
		}
	}
	// One indeterminate record that never landed.
	b.op(Op{Process: "idem-0", Type: OpProduce, Workload: WorkloadIdempotent, Topic: "t", Partition: 0, Seq: 10, Offset: -1, Value: idemValue(0, 10), Outcome: Indeterminate, Err: "timed out"})
	b.op(Op{Process: ProcessNemesis, Type: OpFault, Fault: "node-kill", Target: "n1", Value: "heal"})
	for seq := int64(0); seq < 5; seq++ {
		b.op(Op{Process: "alo-0", Type: OpProduce, Workload: WorkloadAtLeastOnce, Topic: "a", Partition: 0, Seq: seq, Offset: seq, Value: aloValue(seq)})
	}
	// alo-0/4 was written twice (a retry): offset 5 holds it again.
	aloLog := func(off int64) string { return aloValue(min(off, 4)) }

	b.op(Op{Process: "group-0", Type: OpAssign, Group: "g", Topic: "t", Partitions: []int32{0, 1}, Epoch: 1, Generation: 1})
	for part := int32(0); part < 2; part++ {
		v := func(off int64) string { return idemValue(part, off) }
		b.op(Op{Process: "group-0", Type: OpPoll, Group: "g", Topic: "t", Partition: part, Epoch: 1, Records: recs(0, 5, v)})
		b.op(Op{Process: "group-0", Type: OpCommit, Group: "g", Topic: "t", Partition: part, Offset: 5, Generation: 1})
		b.op(Op{Process: "group-0", Type: OpPoll, Group: "g", Topic: "t", Partition: part, Epoch: 1, Records: recs(5, 10, v)})
		b.op(Op{Process: "group-0", Type: OpCommit, Group: "g", Topic: "t", Partition: part, Offset: 10, Generation: 1})
	}
	b.op(Op{Process: "watch", Type: OpOffsets, Group: "g", Topic: "t", Partition: 0, Offset: 10})
	b.op(Op{Process: "watch", Type: OpHWM, Topic: "t", Partition: 0, Offset: 5})
	b.op(Op{Process: "watch", Type: OpHWM, Topic: "t", Partition: 0, Offset: 10})
	for part := int32(0); part < 2; part++ {
		v := func(off int64) string { return idemValue(part, off) }
		b.op(Op{Process: "reader", Type: OpPoll, Topic: "t", Partition: part, Records: recs(0, 10, v)})
	}
	b.op(Op{Process: "reader", Type: OpPoll, Topic: "a", Partition: 0, Records: recs(0, 6, aloLog)})
	final(b, "t", 0, 10, func(off int64) string { return idemValue(0, off) })
	final(b, "t", 1, 10, func(off int64) string { return idemValue(1, off) })
	final(b, "a", 0, 6, aloLog)
	return b
}

// final adds the final read of a partition: log start 0, hwm, records.
func final(b *builder, topic string, part int32, hwm int64, value func(off int64) string) {
	b.op(Op{Process: ProcessFinal, Type: OpHWM, Topic: topic, Partition: part, Value: "start", Offset: 0})
	b.op(Op{Process: ProcessFinal, Type: OpHWM, Topic: topic, Partition: part, Offset: hwm})
	if hwm > 0 {
		b.op(Op{Process: ProcessFinal, Type: OpPoll, Topic: topic, Partition: part, Records: recs(0, hwm, value)})
	}
}

// find returns the ops matching fn.
func (b *builder) find(fn func(*Op) bool) []*Op {
	var out []*Op
	for i := range b.ops {
		if fn(&b.ops[i]) {
			out = append(out, &b.ops[i])
		}
	}
	return out
}

// poll returns the poll of process on topic/part, the n-th one (from 0).
func (b *builder) poll(t *testing.T, process, topic string, part int32, n int) *Op {
	t.Helper()
	ps := b.find(func(op *Op) bool {
		return op.Type == OpPoll && op.Process == process && op.Topic == topic && op.Partition == part
	})
	if n >= len(ps) {
		t.Fatalf("no poll %d of %s on %s/%d", n, process, topic, part)
	}
	return ps[n]
}

func kinds(r *Report) []Kind {
	var out []Kind
	for _, k := range AllKinds {
		if r.Counts[k] > 0 {
			out = append(out, k)
		}
	}
	return out
}

func TestCleanHistoryHasNoAnomaly(t *testing.T) {
	r := Check(clean().ops)
	if !r.Valid || len(r.Anomalies) != 0 {
		t.Fatalf("clean history: %s\n%+v", r.Summary(), r.Anomalies)
	}
	if r.Stats.Acked != 25 {
		t.Errorf("acked = %d, want 25", r.Stats.Acked)
	}
	if r.Stats.AllowedDuplicates != 1 {
		t.Errorf("allowed duplicates = %d, want 1 (the at-least-once retry)", r.Stats.AllowedDuplicates)
	}
	if r.Stats.FinalRecords != 26 {
		t.Errorf("final records = %d, want 26", r.Stats.FinalRecords)
	}
	if r.Faults["node-kill"] != 1 {
		t.Errorf("faults = %v, want one node-kill", r.Faults)
	}
	if !strings.HasPrefix(r.Summary(), "chaos: valid") || !strings.Contains(r.Summary(), "no anomalies") {
		t.Errorf("summary %q", r.Summary())
	}
}

// TestCheckerFindsEachAnomaly breaks the clean history in one way per case
// and asserts that the checker reports exactly the anomalies that break
// shows.
func TestCheckerFindsEachAnomaly(t *testing.T) {
	cases := []struct {
		name   string
		want   []Kind
		break_ func(t *testing.T, b *builder)
	}{
		{
			name: "dropped ack: the last acked record of t/0 is gone and the watermark with it",
			want: []Kind{Lost, HWMRegress},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, ProcessFinal, "t", 0, 0)
				p.Records = p.Records[:9]
				b.find(func(op *Op) bool {
					return op.Process == ProcessFinal && op.Type == OpHWM && op.Topic == "t" && op.Partition == 0 && op.Value == ""
				})[0].Offset = 9
			},
		},
		{
			name: "acked record replaced: offset 3 of t/1 holds a record nobody sent",
			want: []Kind{Lost, OffsetConflict, Phantom},
			break_: func(t *testing.T, b *builder) {
				b.poll(t, ProcessFinal, "t", 1, 0).Records[3].Value = "nobody/1/3"
			},
		},
		{
			name: "duplicate of an idempotent record at a new offset",
			want: []Kind{Duplicate},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, ProcessFinal, "t", 0, 0)
				p.Records = append(p.Records, Rec{Offset: 10, Value: idemValue(0, 4)})
				b.find(func(op *Op) bool {
					return op.Process == ProcessFinal && op.Type == OpHWM && op.Topic == "t" && op.Partition == 0 && op.Value == ""
				})[0].Offset = 11
			},
		},
		{
			name: "committed offset moved back",
			want: []Kind{CommitRegress},
			break_: func(t *testing.T, b *builder) {
				b.op(Op{Process: "watch", Type: OpOffsets, Group: "g", Topic: "t", Partition: 0, Offset: 3})
			},
		},
		{
			name: "a zombie commit of a lower offset succeeds",
			want: []Kind{CommitRegress},
			break_: func(t *testing.T, b *builder) {
				b.op(Op{Process: "group-1", Type: OpCommit, Group: "g", Topic: "t", Partition: 1, Offset: 7, Generation: 0})
			},
		},
		{
			name: "committed offset lost: no commit observed after one succeeded",
			want: []Kind{CommitRegress},
			break_: func(t *testing.T, b *builder) {
				b.op(Op{Process: "watch", Type: OpOffsets, Group: "g", Topic: "t", Partition: 1, Offset: -1})
			},
		},
		{
			name: "skipped record: a member's next poll does not continue where the last ended",
			want: []Kind{PollSkip, GroupSkip},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, "group-0", "t", 0, 1)
				p.Records = p.Records[1:] // 6..9 after 0..4
			},
		},
		{
			name: "group skip across members: the next member starts above the committed offset",
			want: []Kind{GroupSkip},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, "group-0", "t", 1, 1)
				p.Process = "group-1"
				p.Records = p.Records[2:] // 7..9 after another member's 0..4
			},
		},
		{
			name: "redelivery within one assignment",
			want: []Kind{NonMonotonicPoll},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, "group-0", "t", 0, 1)
				p.Records = append(recs(3, 5, func(off int64) string { return idemValue(0, off) }), p.Records...)
			},
		},
		{
			name: "reorder: one producer's later record acked below its earlier one",
			want: []Kind{Reorder},
			break_: func(t *testing.T, b *builder) {
				// seq 2 and 3 of t/0 swapped places in the log, in
				// every read and in the acks.
				for _, op := range b.find(func(op *Op) bool { return op.Topic == "t" && op.Partition == 0 }) {
					switch op.Type {
					case OpProduce:
						switch op.Seq {
						case 2:
							op.Offset = 3
						case 3:
							op.Offset = 2
						}
					case OpPoll:
						for i := range op.Records {
							switch op.Records[i].Offset {
							case 2:
								op.Records[i].Value = idemValue(0, 3)
							case 3:
								op.Records[i].Value = idemValue(0, 2)
							}
						}
					}
				}
			},
		},
		{
			name: "value at two offsets: a reader saw another value at offset 3",
			want: []Kind{OffsetConflict, Duplicate},
			break_: func(t *testing.T, b *builder) {
				b.poll(t, "reader", "t", 0, 0).Records[3].Value = idemValue(0, 4)
			},
		},
		{
			name: "acknowledged at an offset where it never was",
			want: []Kind{WrongOffset},
			break_: func(t *testing.T, b *builder) {
				b.find(func(op *Op) bool { return op.Type == OpProduce && op.Value == aloValue(2) })[0].Offset = 7
			},
		},
		{
			name: "watermark moving back",
			want: []Kind{HWMRegress},
			break_: func(t *testing.T, b *builder) {
				b.op(Op{Process: "watch", Type: OpHWM, Topic: "t", Partition: 0, Offset: 8})
			},
		},
		{
			name: "gap: a reader from the start jumps over two offsets",
			want: []Kind{Gap},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, "reader", "t", 1, 0)
				p.Records = slices.Delete(p.Records, 5, 7)
			},
		},
		{
			name: "gap in the final read",
			want: []Kind{Gap, Lost},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, ProcessFinal, "t", 1, 0)
				p.Records = slices.Delete(p.Records, 5, 6)
			},
		},
		{
			name: "final read stops short of the watermark",
			want: []Kind{Lost, Incomplete},
			break_: func(t *testing.T, b *builder) {
				p := b.poll(t, ProcessFinal, "t", 1, 0)
				p.Records = p.Records[:5]
			},
		},
		{
			name: "failed produce visible",
			want: []Kind{FailedVisible},
			break_: func(t *testing.T, b *builder) {
				b.op(Op{Process: "alo-0", Type: OpProduce, Workload: WorkloadAtLeastOnce, Topic: "a", Partition: 0, Seq: 5, Offset: -1, Value: aloValue(5), Outcome: Failed, Err: "MESSAGE_TOO_LARGE"})
				p := b.poll(t, ProcessFinal, "a", 0, 0)
				p.Records = append(p.Records, Rec{Offset: 6, Value: aloValue(5)})
				b.find(func(op *Op) bool {
					return op.Process == ProcessFinal && op.Type == OpHWM && op.Topic == "a" && op.Value == ""
				})[0].Offset = 7
			},
		},
		{
			name: "acknowledged partition never read at the end",
			want: []Kind{Incomplete},
			break_: func(t *testing.T, b *builder) {
				b.op(Op{Process: "alo-0", Type: OpProduce, Workload: WorkloadAtLeastOnce, Topic: "b", Partition: 0, Offset: 0, Value: "alo-0/b"})
			},
		},
		{
			name: "aborted read and torn transaction",
			want: []Kind{AbortedRead, TornTxn, Lost},
			break_: func(t *testing.T, b *builder) {
				for i, v := range []string{"x1", "x2"} {
					b.op(Op{Process: "txn-0", Type: OpProduce, Workload: WorkloadTransactional, Topic: "x", Partition: 0, Txn: "T1", Seq: int64(i), Offset: int64(i), Value: v})
				}
				b.op(Op{Process: "txn-0", Type: OpTxn, Txn: "T1", Value: "abort"})
				for i, v := range []string{"y1", "y2"} {
					b.op(Op{Process: "txn-0", Type: OpProduce, Workload: WorkloadTransactional, Topic: "x", Partition: 0, Txn: "T2", Seq: int64(i + 2), Offset: int64(i + 3), Value: v})
				}
				b.op(Op{Process: "txn-0", Type: OpTxn, Txn: "T2", Value: "commit"})
				b.op(Op{Process: "rc", Type: OpPoll, Topic: "x", Partition: 0, Isolation: "read_committed", Records: []Rec{{0, "x1"}}})
				b.op(Op{Process: ProcessFinal, Type: OpHWM, Topic: "x", Partition: 0, Value: "start", Offset: 0})
				b.op(Op{Process: ProcessFinal, Type: OpHWM, Topic: "x", Partition: 0, Offset: 6})
				b.op(Op{Process: ProcessFinal, Type: OpPoll, Topic: "x", Partition: 0, Isolation: "read_committed", Records: []Rec{{3, "y1"}}})
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := clean()
			tc.break_(t, b)
			r := Check(b.ops)
			if r.Valid {
				t.Fatalf("reported valid: %s", r.Summary())
			}
			want := slices.Clone(tc.want)
			slices.SortFunc(want, func(a, b Kind) int { return slices.Index(AllKinds, a) - slices.Index(AllKinds, b) })
			if got := kinds(r); !reflect.DeepEqual(got, want) {
				t.Errorf("anomalies %v, want %v:\n%s", got, want, describe(r))
			}
			for _, a := range r.Anomalies {
				if a.Detail == "" || len(a.Ops) == 0 && a.Kind != Incomplete {
					t.Errorf("anomaly without detail or ops: %+v", a)
				}
			}
			if !strings.HasPrefix(r.Summary(), "chaos: INVALID") {
				t.Errorf("summary %q", r.Summary())
			}
		})
	}
}

func describe(r *Report) string {
	var b strings.Builder
	for _, a := range r.Anomalies {
		fmt.Fprintf(&b, "  %s: %s\n", a.Kind, a.Detail)
	}
	return b.String()
}

// TestAnomalyNamesItsFault: an anomaly that shows while a fault is active
// or just healed names it; one long after names none.
func TestAnomalyNamesItsFault(t *testing.T) {
	b := clean()
	// During the fault: op times 20..~440 of clean() include the node-kill
	// window at its start.
	b.ops[2].Seq, b.ops[3].Seq = 3, 2 // reorder acked while node-kill is active
	r := Check(b.ops)
	if r.Counts[Reorder] != 1 {
		t.Fatalf("want one reorder: %s", describe(r))
	}
	if a := r.Anomalies[0]; !slices.Contains(a.Faults, "node-kill@n1") {
		t.Errorf("reorder during node-kill names faults %v", a.Faults)
	}
}

// TestHistoryRoundTrip: a history written to its file reads back the same
// and checks the same.
func TestHistoryRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	h, err := NewHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	b := clean()
	p := b.poll(t, "group-0", "t", 0, 1)
	p.Records = p.Records[1:]
	for _, op := range b.ops {
		h.Add(op)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	ops, err := ReadHistoryFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ops, b.ops) {
		t.Fatalf("read back %d ops, differ from the %d written", len(ops), len(b.ops))
	}
	want, got := Check(b.ops), Check(ops)
	if got.Summary() != want.Summary() || !reflect.DeepEqual(kinds(got), []Kind{PollSkip, GroupSkip}) {
		t.Errorf("re-check: %s, want %s", got.Summary(), want.Summary())
	}
}

// TestSplitCoordinatorCounted: two nodes answering as the group's
// coordinator in one round are counted; one per round is not.
func TestSplitCoordinatorCounted(t *testing.T) {
	b := clean()
	b.op(Op{Process: "watch", Type: OpCoordinator, Group: "g", Node: "n1", Value: "Stable", Target: "group-0/a", Seq: 1})
	b.op(Op{Process: "watch", Type: OpCoordinator, Group: "g", Node: "n2", Value: "Stable", Target: "group-0/a", Seq: 2})
	if r := Check(b.ops); r.Stats.SplitCoordinator != 0 {
		t.Fatalf("one coordinator per round counted as %d splits", r.Stats.SplitCoordinator)
	}
	b.op(Op{Process: "watch", Type: OpCoordinator, Group: "g", Node: "n3", Value: "PreparingRebalance", Target: "group-1/b", Seq: 2})
	r := Check(b.ops)
	if r.Stats.SplitCoordinator != 1 || !strings.Contains(r.Stats.SplitExample, "n2") || !strings.Contains(r.Stats.SplitExample, "n3") {
		t.Fatalf("split %d, example %q; want 1 naming n2 and n3", r.Stats.SplitCoordinator, r.Stats.SplitExample)
	}
}
