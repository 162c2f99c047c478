package chaos

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Kind names an anomaly the checker reports.
type Kind string

// The anomalies. Every one of them is a broken promise of Strata's; the
// tests of this package build a history with each and assert it is found.
const (
	// Lost: an acknowledged record is not in the final read of its
	// partition, which covered its offset.
	Lost Kind = "lost"
	// Duplicate: a record of a workload that forbids duplicates
	// (idempotent, transactional) was read at two or more offsets.
	Duplicate Kind = "duplicate"
	// Reorder: one idempotent producer's acknowledged records of one
	// partition are not in the order it sent them.
	Reorder Kind = "reorder"
	// OffsetConflict: two different values were read, or acknowledged, at
	// one offset of one partition.
	OffsetConflict Kind = "offset-conflict"
	// WrongOffset: an acknowledged record was read, but never at the
	// partition and offset it was acknowledged with; for workloads without
	// duplicates, read anywhere else at all.
	WrongOffset Kind = "wrong-offset"
	// Gap: a consumer reading a partition from its start, or the final
	// read, saw the offsets jump: the partition's offsets are contiguous
	// in non-compacted, non-transactional topics.
	Gap Kind = "gap"
	// PollSkip: within one assignment, a group member's next poll did not
	// continue from the offset after the last one it received.
	PollSkip Kind = "poll-skip"
	// NonMonotonicPoll: within one assignment, a consumer received an
	// offset at or below one it had already received.
	NonMonotonicPoll Kind = "nonmonotonic-poll"
	// GroupSkip: an offset below the group's committed offset that no
	// member of the group ever received.
	GroupSkip Kind = "group-skip"
	// HWMRegress: a process saw a partition's high watermark go back, or
	// the final high watermark is below one seen during the run.
	HWMRegress Kind = "hwm-regress"
	// CommitRegress: a group's committed offset was observed, or
	// committed, below one committed or observed before.
	CommitRegress Kind = "commit-regress"
	// Phantom: a consumer read a value that no producer sent.
	Phantom Kind = "phantom"
	// FailedVisible: a consumer read a record whose produce failed
	// definitely (not merely indeterminate).
	FailedVisible Kind = "failed-visible"
	// AbortedRead: a read_committed consumer read a record of an aborted
	// transaction.
	AbortedRead Kind = "aborted-read"
	// TornTxn: the final read holds some, not all, of the records of a
	// committed transaction.
	TornTxn Kind = "torn-txn"
	// Incomplete: a partition with acknowledged records has no final
	// read up to its high watermark, so loss there cannot be judged.
	Incomplete Kind = "incomplete"
)

// AllKinds lists every anomaly kind, in report order.
var AllKinds = []Kind{
	Lost, Duplicate, Reorder, OffsetConflict, WrongOffset, Gap, PollSkip,
	NonMonotonicPoll, GroupSkip, HWMRegress, CommitRegress, Phantom,
	FailedVisible, AbortedRead, TornTxn, Incomplete,
}

// Anomaly is one finding of the checker.
type Anomaly struct {
	Kind      Kind   `json:"kind"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Count is how many offsets a range anomaly covers (group skips,
	// gaps); 1 otherwise.
	Count   int64  `json:"count"`
	Value   string `json:"value,omitempty"`
	Process string `json:"process,omitempty"`
	Detail  string `json:"detail"`
	// Ops are the indices of the operations that show it.
	Ops []int64 `json:"ops,omitempty"`
	// At is the history time at which it shows, in nanoseconds.
	At int64 `json:"at"`
	// Faults are the faults active at At, or healed within
	// FaultAfterglow before it.
	Faults []string `json:"faults,omitempty"`
}

// FaultAfterglow is how long after a fault is healed an anomaly is still
// attributed to it: clients retry and nodes recover for a while.
const FaultAfterglow = 10 * time.Second

// maxListed bounds how many anomalies of one kind a report lists; Counts
// has them all.
const maxListed = 100

// Report is the checker's verdict on a history.
type Report struct {
	Valid     bool           `json:"valid"`
	Counts    map[Kind]int   `json:"counts"`
	Anomalies []Anomaly      `json:"anomalies"`
	Stats     Stats          `json:"stats"`
	Faults    map[string]int `json:"faults"`
}

// Stats count what the history holds.
type Stats struct {
	Ops      int                        `json:"ops"`
	ByType   map[OpType]map[Outcome]int `json:"by_type"`
	Produced map[string]map[Outcome]int `json:"produced"`
	// Acked counts acknowledged records of checked workloads.
	Acked int `json:"acked"`
	// IndeterminateRead counts indeterminate produces whose record was
	// read nevertheless.
	IndeterminateRead int `json:"indeterminate_read"`
	// FinalRecords is how many records the final read received.
	FinalRecords int `json:"final_records"`
	Partitions   int `json:"partitions"`
	// GroupPolled and GroupRedelivered count the offsets a group's
	// members received, and those received more than once.
	GroupPolled      int `json:"group_polled"`
	GroupRedelivered int `json:"group_redelivered"`
	// Duplicates counts extra copies in workloads that allow them.
	AllowedDuplicates int `json:"allowed_duplicates"`
	// SplitCoordinator counts the rounds in which two or more nodes
	// answered DescribeGroups as the coordinator of one group: two
	// coordinators at once. SplitExample describes the first.
	SplitCoordinator int    `json:"split_coordinator"`
	SplitExample     string `json:"split_example,omitempty"`
	// IndeterminateByFault counts the indeterminate produces of checked
	// workloads by the fault active when they completed ("none" outside
	// any fault, its afterglow included).
	IndeterminateByFault map[string]int `json:"indeterminate_by_fault"`
}

// Summary is the report in one line.
func (r *Report) Summary() string {
	var b strings.Builder
	if r.Valid {
		b.WriteString("chaos: valid")
	} else {
		b.WriteString("chaos: INVALID")
	}
	faults := 0
	for _, n := range r.Faults {
		faults += n
	}
	ind := 0
	for _, m := range r.Stats.Produced {
		ind += m[Indeterminate]
	}
	fmt.Fprintf(&b, ": %d ops, %d records acked, %d indeterminate (%d of them read), %d read in the final pass, %d faults",
		r.Stats.Ops, r.Stats.Acked, ind, r.Stats.IndeterminateRead, r.Stats.FinalRecords, faults)
	var parts []string
	for _, k := range AllKinds {
		if n := r.Counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
	}
	if len(parts) == 0 {
		b.WriteString("; no anomalies")
	} else {
		b.WriteString("; anomalies: " + strings.Join(parts, " "))
	}
	return b.String()
}

// tp is a topic partition.
type tp struct {
	topic string
	part  int32
}

func (p tp) String() string { return fmt.Sprintf("%s/%d", p.topic, p.part) }

// pos is a record's place: partition and offset.
type pos struct {
	tp
	off int64
}

// checker holds the indexes of one Check.
type checker struct {
	ops    []Op
	report *Report
	faults []faultSpan

	produce map[string]*Op // value -> produce op
	txnEnd  map[string]*Op // transaction -> its end
	// readAt holds the value read or acknowledged at each position, and
	// the op that showed it first.
	readAt map[pos]posValue
	// readPos holds, per value, the positions it was read at (not acks).
	readPos map[string][]pos
	// final read: values per partition, offsets read, and the partition's
	// final high watermark and log start.
	finalVals  map[tp]map[string]bool
	finalOffs  map[tp][]int64
	finalHWM   map[tp]*Op
	finalStart map[tp]int64
}

type posValue struct {
	value string
	op    int64
}

type faultSpan struct {
	name       string
	start, end int64 // end: heal time, or the end of the history
}

// Check reads a history and reports its anomalies.
func Check(ops []Op) *Report {
	c := &checker{
		ops: ops,
		report: &Report{
			Counts: map[Kind]int{},
			Faults: map[string]int{},
			Stats: Stats{
				Ops:      len(ops),
				ByType:   map[OpType]map[Outcome]int{},
				Produced: map[string]map[Outcome]int{},
			},
		},
		produce:    map[string]*Op{},
		txnEnd:     map[string]*Op{},
		readAt:     map[pos]posValue{},
		readPos:    map[string][]pos{},
		finalVals:  map[tp]map[string]bool{},
		finalOffs:  map[tp][]int64{},
		finalHWM:   map[tp]*Op{},
		finalStart: map[tp]int64{},
	}
	c.index()
	c.checkOffsets()
	c.checkValues()
	c.checkReorder()
	c.checkPolls()
	c.checkGroups()
	c.checkHWM()
	c.checkCommits()
	c.checkFinal()
	c.checkTxns()
	c.checkCoordinators()
	c.finish()
	return c.report
}

func (c *checker) add(a Anomaly) {
	if a.Count == 0 {
		a.Count = 1
	}
	for _, f := range c.faults {
		if a.At >= f.start && a.At <= f.end+int64(FaultAfterglow) {
			a.Faults = append(a.Faults, f.name)
		}
	}
	c.report.Counts[a.Kind]++
	if c.report.Counts[a.Kind] <= maxListed {
		c.report.Anomalies = append(c.report.Anomalies, a)
	}
}

// checked reports whether a workload's records are checked for loss.
func checked(workload string) bool {
	return workload == WorkloadIdempotent || workload == WorkloadAtLeastOnce || workload == WorkloadTransactional
}

// noDuplicates reports whether a workload forbids duplicates and reorders.
func noDuplicates(workload string) bool {
	return workload == WorkloadIdempotent || workload == WorkloadTransactional
}

func (c *checker) index() {
	st := &c.report.Stats
	open := map[string]int64{} // fault -> start
	for i := range c.ops {
		op := &c.ops[i]
		m := st.ByType[op.Type]
		if m == nil {
			m = map[Outcome]int{}
			st.ByType[op.Type] = m
		}
		m[op.Outcome]++
		switch op.Type {
		case OpProduce:
			if op.Value != "" {
				c.produce[op.Value] = op
			}
			pm := st.Produced[op.Workload]
			if pm == nil {
				pm = map[Outcome]int{}
				st.Produced[op.Workload] = pm
			}
			pm[op.Outcome]++
			if op.Outcome == OK && checked(op.Workload) {
				st.Acked++
			}
		case OpTxn:
			c.txnEnd[op.Txn] = op
		case OpFault:
			key := op.Fault + "@" + op.Target
			switch op.Value {
			case "start":
				open[key] = op.Invoke
				c.report.Faults[op.Fault]++
			case "heal":
				start, ok := open[key]
				if !ok {
					start = op.Invoke
				}
				delete(open, key)
				c.faults = append(c.faults, faultSpan{name: key, start: start, end: op.Complete})
			}
		case OpPoll:
			if op.Process == ProcessFinal {
				p := tp{op.Topic, op.Partition}
				vals := c.finalVals[p]
				if vals == nil {
					vals = map[string]bool{}
					c.finalVals[p] = vals
				}
				for _, r := range op.Records {
					vals[r.Value] = true
					c.finalOffs[p] = append(c.finalOffs[p], r.Offset)
				}
				st.FinalRecords += len(op.Records)
			}
		case OpHWM:
			if op.Process == ProcessFinal && op.Outcome == OK {
				p := tp{op.Topic, op.Partition}
				if op.Value == "start" {
					c.finalStart[p] = op.Offset
				} else {
					c.finalHWM[p] = op
				}
			}
		}
	}
	var end int64
	for i := range c.ops {
		end = max(end, c.ops[i].Complete, c.ops[i].Invoke)
	}
	for key, start := range open {
		c.faults = append(c.faults, faultSpan{name: key, start: start, end: end})
	}
	sort.Slice(c.faults, func(i, j int) bool { return c.faults[i].start < c.faults[j].start })
	st.Partitions = len(c.finalHWM)
	st.IndeterminateByFault = map[string]int{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type != OpProduce || op.Outcome != Indeterminate || !checked(op.Workload) {
			continue
		}
		name := "none"
		for _, f := range c.faults {
			if op.Complete >= f.start && op.Complete <= f.end+int64(FaultAfterglow) {
				name, _, _ = strings.Cut(f.name, "@")
			}
		}
		st.IndeterminateByFault[name]++
	}
}

// checkOffsets finds two values at one offset, among reads and acks.
func (c *checker) checkOffsets() {
	see := func(p pos, value string, op *Op) {
		prev, ok := c.readAt[p]
		if !ok {
			c.readAt[p] = posValue{value, op.Index}
			return
		}
		if prev.value != value {
			c.add(Anomaly{
				Kind: OffsetConflict, Topic: p.topic, Partition: p.part, Offset: p.off,
				Value: value, Process: op.Process,
				Detail: fmt.Sprintf("offset %d of %s holds %q (op %d) and %q (op %d, %s)", p.off, p.tp, prev.value, prev.op, value, op.Index, op.Process),
				Ops:    []int64{prev.op, op.Index}, At: op.Complete,
			})
		}
	}
	for i := range c.ops {
		op := &c.ops[i]
		switch {
		case op.Type == OpProduce && op.Outcome == OK && checked(op.Workload):
			see(pos{tp{op.Topic, op.Partition}, op.Offset}, op.Value, op)
		case op.Type == OpPoll:
			for _, r := range op.Records {
				p := pos{tp{op.Topic, op.Partition}, r.Offset}
				see(p, r.Value, op)
				ps := c.readPos[r.Value]
				if !slices.Contains(ps, p) {
					c.readPos[r.Value] = append(ps, p)
				}
			}
		}
	}
}

// checkValues finds phantoms, definitely failed records that were read,
// duplicates and records read at another offset than acknowledged.
func (c *checker) checkValues() {
	st := &c.report.Stats
	firstRead := map[string]*Op{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type != OpPoll {
			continue
		}
		for _, r := range op.Records {
			if _, ok := firstRead[r.Value]; !ok {
				firstRead[r.Value] = op
			}
		}
	}
	values := make([]string, 0, len(c.readPos))
	for v := range c.readPos {
		values = append(values, v)
	}
	sort.Strings(values)
	for _, v := range values {
		ps := c.readPos[v]
		rd := firstRead[v]
		prod, ok := c.produce[v]
		if !ok {
			c.add(Anomaly{Kind: Phantom, Topic: ps[0].topic, Partition: ps[0].part, Offset: ps[0].off, Value: v, Process: rd.Process,
				Detail: fmt.Sprintf("%q read at %s offset %d was never produced", v, ps[0].tp, ps[0].off), Ops: []int64{rd.Index}, At: rd.Complete})
			continue
		}
		switch prod.Outcome {
		case Failed:
			c.add(Anomaly{Kind: FailedVisible, Topic: ps[0].topic, Partition: ps[0].part, Offset: ps[0].off, Value: v, Process: rd.Process,
				Detail: fmt.Sprintf("%q read at %s offset %d, but its produce failed: %s", v, ps[0].tp, ps[0].off, prod.Err),
				Ops:    []int64{prod.Index, rd.Index}, At: rd.Complete})
		case Indeterminate:
			st.IndeterminateRead++
		}
		if len(ps) > 1 {
			if noDuplicates(prod.Workload) {
				slices.SortFunc(ps, func(a, b pos) int { return cmp.Compare(a.off, b.off) })
				var where []string
				for _, p := range ps {
					where = append(where, fmt.Sprintf("%s@%d", p.tp, p.off))
				}
				c.add(Anomaly{Kind: Duplicate, Topic: ps[0].topic, Partition: ps[0].part, Offset: ps[1].off, Count: int64(len(ps) - 1), Value: v, Process: prod.Process,
					Detail: fmt.Sprintf("%s record %q of %s stored %d times: %s", prod.Workload, v, prod.Process, len(ps), strings.Join(where, ", ")),
					Ops:    []int64{prod.Index, rd.Index}, At: prod.Invoke})
			} else {
				st.AllowedDuplicates += len(ps) - 1
			}
		}
		if prod.Outcome == OK && checked(prod.Workload) {
			acked := pos{tp{prod.Topic, prod.Partition}, prod.Offset}
			if !slices.Contains(ps, acked) {
				c.add(Anomaly{Kind: WrongOffset, Topic: acked.topic, Partition: acked.part, Offset: acked.off, Value: v, Process: prod.Process,
					Detail: fmt.Sprintf("%q acknowledged at %s offset %d but read only at %s offset %d", v, acked.tp, acked.off, ps[0].tp, ps[0].off),
					Ops:    []int64{prod.Index, rd.Index}, At: prod.Complete})
			}
		}
	}
}

// checkReorder finds one idempotent producer's acknowledged records of one
// partition whose offsets are not in the order it sent them.
func (c *checker) checkReorder() {
	type key struct {
		process string
		tp
	}
	byKey := map[key][]*Op{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type == OpProduce && op.Outcome == OK && noDuplicates(op.Workload) {
			k := key{op.Process, tp{op.Topic, op.Partition}}
			byKey[k] = append(byKey[k], op)
		}
	}
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.process, b.process), cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part))
	})
	for _, k := range keys {
		acks := byKey[k]
		slices.SortFunc(acks, func(a, b *Op) int { return cmp.Compare(a.Seq, b.Seq) })
		// Every record must be above the highest offset of those sent
		// before it.
		var hi *Op
		for _, op := range acks {
			if hi != nil && op.Offset <= hi.Offset {
				c.add(Anomaly{Kind: Reorder, Topic: k.topic, Partition: k.part, Offset: op.Offset, Value: op.Value, Process: k.process,
					Detail: fmt.Sprintf("%s sent %q (seq %d) after %q (seq %d) but it was acknowledged at offset %d, not above %d",
						k.process, op.Value, op.Seq, hi.Value, hi.Seq, op.Offset, hi.Offset),
					Ops: []int64{hi.Index, op.Index}, At: op.Complete})
			}
			if hi == nil || op.Offset > hi.Offset {
				hi = op
			}
		}
	}
}

// transactional reports whether a poll may see offset gaps: control
// records of transactions take offsets.
func (c *checker) transactional(op *Op) bool {
	if op.Isolation == "read_committed" {
		return true
	}
	for _, r := range op.Records {
		if p, ok := c.produce[r.Value]; ok && p.Workload == WorkloadTransactional {
			return true
		}
	}
	return false
}

// checkPolls follows each consumer's records of each partition within one
// assignment: they must go up by one.
func (c *checker) checkPolls() {
	type key struct {
		process string
		tp
		epoch int64
	}
	type cursor struct {
		last   int64
		lastOp int64
		txn    bool
	}
	cur := map[key]*cursor{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type != OpPoll || len(op.Records) == 0 || op.Process == ProcessFinal {
			continue
		}
		k := key{op.Process, tp{op.Topic, op.Partition}, op.Epoch}
		cu := cur[k]
		txn := c.transactional(op)
		for _, r := range op.Records {
			if cu == nil {
				cu = &cursor{last: r.Offset, lastOp: op.Index, txn: txn}
				cur[k] = cu
				continue
			}
			cu.txn = cu.txn || txn
			switch {
			case r.Offset <= cu.last:
				c.add(Anomaly{Kind: NonMonotonicPoll, Topic: op.Topic, Partition: op.Partition, Offset: r.Offset, Value: r.Value, Process: op.Process,
					Detail: fmt.Sprintf("%s received offset %d of %s after offset %d in the same assignment (epoch %d)", op.Process, r.Offset, k.tp, cu.last, op.Epoch),
					Ops:    []int64{cu.lastOp, op.Index}, At: op.Complete})
			case r.Offset > cu.last+1 && !cu.txn:
				kind := Gap
				what := "reading from the start"
				if op.Group != "" {
					kind, what = PollSkip, "in one assignment"
				}
				c.add(Anomaly{Kind: kind, Topic: op.Topic, Partition: op.Partition, Offset: cu.last + 1, Count: r.Offset - cu.last - 1, Process: op.Process,
					Detail: fmt.Sprintf("%s %s jumped from offset %d to %d of %s (epoch %d): %d offsets skipped", op.Process, what, cu.last, r.Offset, k.tp, op.Epoch, r.Offset-cu.last-1),
					Ops:    []int64{cu.lastOp, op.Index}, At: op.Complete})
			}
			if r.Offset > cu.last {
				cu.last, cu.lastOp = r.Offset, op.Index
			}
		}
	}
}

// checkGroups finds offsets below a group's committed offset that no
// member received, and counts redeliveries.
func (c *checker) checkGroups() {
	type key struct {
		group string
		tp
	}
	committed := map[key]*Op{}
	polled := map[key]map[int64]int{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Group == "" || op.Outcome != OK {
			continue
		}
		k := key{op.Group, tp{op.Topic, op.Partition}}
		switch op.Type {
		case OpCommit, OpOffsets:
			if prev := committed[k]; prev == nil || op.Offset > prev.Offset {
				committed[k] = op
			}
		case OpPoll:
			m := polled[k]
			if m == nil {
				m = map[int64]int{}
				polled[k] = m
			}
			for _, r := range op.Records {
				m[r.Offset]++
			}
		}
	}
	st := &c.report.Stats
	for _, m := range polled {
		for _, n := range m {
			st.GroupPolled++
			if n > 1 {
				st.GroupRedelivered++
			}
		}
	}
	keys := make([]key, 0, len(committed))
	for k := range committed {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part))
	})
	for _, k := range keys {
		top := committed[k]
		start := c.finalStart[k.tp] // 0 when unknown
		m := polled[k]
		for off := start; off < top.Offset; off++ {
			if m[off] > 0 {
				continue
			}
			end := off
			for end+1 < top.Offset && m[end+1] == 0 {
				end++
			}
			c.add(Anomaly{Kind: GroupSkip, Topic: k.topic, Partition: k.part, Offset: off, Count: end - off + 1, Process: top.Process,
				Detail: fmt.Sprintf("group %s committed offset %d of %s, but no member received offsets %d to %d", k.group, top.Offset, k.tp, off, end),
				Ops:    []int64{top.Index}, At: top.Complete})
			off = end
		}
	}
}

// checkHWM finds high watermarks that go back: in the sequence one process
// saw, and from any observation to the final one.
func (c *checker) checkHWM() {
	type key struct {
		process string
		tp
	}
	last := map[key]*Op{}
	highest := map[tp]*Op{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type != OpHWM || op.Outcome != OK || op.Value == "start" {
			continue
		}
		p := tp{op.Topic, op.Partition}
		k := key{op.Process, p}
		if prev := last[k]; prev != nil && op.Offset < prev.Offset {
			c.add(Anomaly{Kind: HWMRegress, Topic: op.Topic, Partition: op.Partition, Offset: op.Offset, Process: op.Process,
				Detail: fmt.Sprintf("%s saw the high watermark of %s go back from %d (op %d, node %s) to %d (op %d, node %s)", op.Process, p, prev.Offset, prev.Index, prev.Node, op.Offset, op.Index, op.Node),
				Ops:    []int64{prev.Index, op.Index}, At: op.Complete})
		}
		last[k] = op
		if op.Process != ProcessFinal {
			if h := highest[p]; h == nil || op.Offset > h.Offset {
				highest[p] = op
			}
		}
	}
	parts := make([]tp, 0, len(c.finalHWM))
	for p := range c.finalHWM {
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, b tp) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part)) })
	for _, p := range parts {
		fin := c.finalHWM[p]
		if h := highest[p]; h != nil && h.Complete < fin.Invoke && fin.Offset < h.Offset {
			c.add(Anomaly{Kind: HWMRegress, Topic: p.topic, Partition: p.part, Offset: fin.Offset, Process: ProcessFinal,
				Detail: fmt.Sprintf("final high watermark of %s is %d, below %d seen by %s (op %d)", p, fin.Offset, h.Offset, h.Process, h.Index),
				Ops:    []int64{h.Index, fin.Index}, At: fin.Complete})
		}
	}
}

// checkCommits finds committed offsets that go back: an OffsetFetch, or a
// successful commit, started after a commit or an observation of a higher
// offset completed.
func (c *checker) checkCommits() {
	type key struct {
		group string
		tp
	}
	events := map[key][]*Op{}
	for i := range c.ops {
		op := &c.ops[i]
		if (op.Type == OpCommit || op.Type == OpOffsets) && op.Outcome == OK && op.Group != "" {
			k := key{op.Group, tp{op.Topic, op.Partition}}
			events[k] = append(events[k], op)
		}
	}
	keys := make([]key, 0, len(events))
	for k := range events {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part))
	})
	for _, k := range keys {
		evs := events[k]
		byComplete := slices.Clone(evs)
		slices.SortFunc(byComplete, func(a, b *Op) int { return cmp.Compare(a.Complete, b.Complete) })
		byInvoke := slices.Clone(evs)
		slices.SortFunc(byInvoke, func(a, b *Op) int { return cmp.Compare(a.Invoke, b.Invoke) })
		var top *Op // highest offset among events completed so far
		j := 0
		for _, op := range byInvoke {
			for j < len(byComplete) && byComplete[j].Complete < op.Invoke {
				if top == nil || byComplete[j].Offset > top.Offset {
					top = byComplete[j]
				}
				j++
			}
			if top != nil && op.Offset < top.Offset {
				verb := "observed"
				if op.Type == OpCommit {
					verb = "committed"
				}
				c.add(Anomaly{Kind: CommitRegress, Topic: k.topic, Partition: k.part, Offset: op.Offset, Process: op.Process,
					Detail: fmt.Sprintf("group %s: offset %d of %s %s by %s (op %d, generation %d) after %d was %s by %s (op %d, generation %d)",
						k.group, op.Offset, k.tp, verb, op.Process, op.Index, op.Generation, top.Offset, pastOf(top), top.Process, top.Index, top.Generation),
					Ops: []int64{top.Index, op.Index}, At: op.Complete})
			}
		}
	}
}

func pastOf(op *Op) string {
	if op.Type == OpCommit {
		return "committed"
	}
	return "observed"
}

// checkFinal compares the acknowledged records with the final read.
func (c *checker) checkFinal() {
	// The final read of each partition must be contiguous from its log
	// start to its high watermark.
	parts := make([]tp, 0, len(c.finalHWM))
	for p := range c.finalHWM {
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, b tp) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part)) })
	complete := map[tp]bool{}
	for _, p := range parts {
		hwm := c.finalHWM[p]
		offs := slices.Clone(c.finalOffs[p])
		slices.Sort(offs)
		offs = slices.Compact(offs)
		next := c.finalStart[p]
		ok := true
		for _, off := range offs {
			if off >= hwm.Offset {
				break
			}
			if off > next && !c.txnPartition(p) {
				c.add(Anomaly{Kind: Gap, Topic: p.topic, Partition: p.part, Offset: next, Count: off - next, Process: ProcessFinal,
					Detail: fmt.Sprintf("final read of %s has no offsets %d to %d (log start %d, high watermark %d)", p, next, off-1, c.finalStart[p], hwm.Offset),
					Ops:    []int64{hwm.Index}, At: hwm.Complete})
			}
			if off >= next {
				next = off + 1
			}
		}
		if next < hwm.Offset && !c.txnPartition(p) {
			ok = false
			c.add(Anomaly{Kind: Incomplete, Topic: p.topic, Partition: p.part, Offset: next, Count: hwm.Offset - next, Process: ProcessFinal,
				Detail: fmt.Sprintf("final read of %s stopped at offset %d, below its high watermark %d", p, next, hwm.Offset),
				Ops:    []int64{hwm.Index}, At: hwm.Complete})
		}
		complete[p] = ok
	}

	missing := map[tp]int{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type != OpProduce || op.Outcome != OK || !checked(op.Workload) {
			continue
		}
		p := tp{op.Topic, op.Partition}
		hwm, ok := c.finalHWM[p]
		if !ok {
			missing[p]++
			continue
		}
		if op.Offset < c.finalStart[p] {
			continue // expired by retention
		}
		if op.Txn != "" {
			if end := c.txnEnd[op.Txn]; end == nil || end.Value != "commit" || end.Outcome != OK {
				continue // not acknowledged until its transaction commits
			}
		}
		if found := c.readPos[op.Value]; len(found) > 0 {
			inFinal := false
			for _, fp := range found {
				if c.finalVals[fp.tp][op.Value] {
					inFinal = true
				}
			}
			if inFinal {
				continue
			}
		}
		detail := fmt.Sprintf("%s record %q acknowledged at %s offset %d is not in the final read (high watermark %d)", op.Workload, op.Value, p, op.Offset, hwm.Offset)
		if len(c.readPos[op.Value]) > 0 {
			detail += fmt.Sprintf("; it was read during the run at %s offset %d", c.readPos[op.Value][0].tp, c.readPos[op.Value][0].off)
		}
		if op.Offset >= hwm.Offset {
			detail += "; the high watermark is below its offset"
		} else if !complete[p] {
			detail += "; the final read of the partition did not reach its high watermark"
		}
		c.add(Anomaly{Kind: Lost, Topic: op.Topic, Partition: op.Partition, Offset: op.Offset, Value: op.Value, Process: op.Process,
			Detail: detail, Ops: []int64{op.Index, hwm.Index}, At: op.Invoke})
	}
	for _, p := range sortedKeys(missing) {
		c.add(Anomaly{Kind: Incomplete, Topic: p.topic, Partition: p.part, Count: int64(missing[p]), Process: ProcessFinal,
			Detail: fmt.Sprintf("%s has %d acknowledged records but no final high watermark: loss there is not judged", p, missing[p])})
	}
}

func sortedKeys[V any](m map[tp]V) []tp {
	keys := make([]tp, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tp) int { return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part)) })
	return keys
}

// txnPartition reports whether a partition holds transactional records,
// whose control records take offsets that no consumer receives.
func (c *checker) txnPartition(p tp) bool {
	for v := range c.finalVals[p] {
		if op, ok := c.produce[v]; ok && op.Workload == WorkloadTransactional {
			return true
		}
	}
	return false
}

// checkTxns finds records of aborted transactions read by read_committed
// consumers, and committed transactions the final read holds only part of.
func (c *checker) checkTxns() {
	if len(c.txnEnd) == 0 {
		return
	}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type != OpPoll || op.Isolation != "read_committed" {
			continue
		}
		for _, r := range op.Records {
			prod, ok := c.produce[r.Value]
			if !ok || prod.Txn == "" {
				continue
			}
			if end := c.txnEnd[prod.Txn]; end != nil && end.Value == "abort" && end.Outcome == OK {
				c.add(Anomaly{Kind: AbortedRead, Topic: op.Topic, Partition: op.Partition, Offset: r.Offset, Value: r.Value, Process: op.Process,
					Detail: fmt.Sprintf("%s (read_committed) read %q of aborted transaction %s", op.Process, r.Value, prod.Txn),
					Ops:    []int64{prod.Index, end.Index, op.Index}, At: op.Complete})
			}
		}
	}
	members := map[string][]*Op{}
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type == OpProduce && op.Txn != "" {
			members[op.Txn] = append(members[op.Txn], op)
		}
	}
	txns := make([]string, 0, len(members))
	for t := range members {
		txns = append(txns, t)
	}
	sort.Strings(txns)
	for _, t := range txns {
		end := c.txnEnd[t]
		if end == nil || end.Value != "commit" || end.Outcome != OK {
			continue
		}
		var in, out []string
		for _, op := range members[t] {
			if c.finalVals[tp{op.Topic, op.Partition}][op.Value] || c.inAnyFinal(op.Value) {
				in = append(in, op.Value)
			} else {
				out = append(out, op.Value)
			}
		}
		if len(in) > 0 && len(out) > 0 {
			c.add(Anomaly{Kind: TornTxn, Value: out[0], Process: end.Process,
				Detail: fmt.Sprintf("committed transaction %s: final read holds %d of its %d records; missing %s", t, len(in), len(in)+len(out), strings.Join(out, ", ")),
				Ops:    []int64{end.Index}, At: end.Complete})
		}
	}
}

// checkCoordinators counts the rounds in which several nodes claimed to
// coordinate one group.
func (c *checker) checkCoordinators() {
	type key struct {
		group string
		round int64
	}
	claims := map[key][]*Op{}
	var keys []key
	for i := range c.ops {
		op := &c.ops[i]
		if op.Type != OpCoordinator || op.Outcome != OK {
			continue
		}
		k := key{op.Group, op.Seq}
		if claims[k] == nil {
			keys = append(keys, k)
		}
		claims[k] = append(claims[k], op)
	}
	st := &c.report.Stats
	for _, k := range keys {
		ops := claims[k]
		if len(ops) < 2 {
			continue
		}
		st.SplitCoordinator++
		if st.SplitExample == "" {
			var parts []string
			for _, op := range ops {
				parts = append(parts, fmt.Sprintf("%s (%s, members %s)", op.Node, op.Value, op.Target))
			}
			st.SplitExample = fmt.Sprintf("group %s at %.1fs: %s", k.group, float64(ops[0].Invoke)/1e9, strings.Join(parts, "; "))
		}
	}
}

func (c *checker) inAnyFinal(v string) bool {
	for _, p := range c.readPos[v] {
		if c.finalVals[p.tp][v] {
			return true
		}
	}
	return false
}

func (c *checker) finish() {
	r := c.report
	r.Valid = len(r.Counts) == 0
	slices.SortStableFunc(r.Anomalies, func(a, b Anomaly) int {
		return cmp.Compare(slices.Index(AllKinds, a.Kind), slices.Index(AllKinds, b.Kind))
	})
	if r.Anomalies == nil {
		r.Anomalies = []Anomaly{}
	}
}
