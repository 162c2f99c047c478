// Package chaos is Strata's fault-injection harness and checker: workloads
// of real Kafka clients record every operation they make in a History, a
// nemesis injects faults from a seeded schedule into a cluster of strata
// serve processes, PostgreSQL and MinIO, and Check reads the history back
// for anomalies: lost acknowledged records, duplicates, reorders, gaps,
// offsets and watermarks going back, records a consumer skipped.
//
// The checker is pure: it needs nothing but a history, so a saved history
// (JSON lines) can be checked again, and its tests feed it histories with
// each anomaly to prove it reports them.
package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// Outcome is how an operation ended.
type Outcome string

// Outcomes. An indeterminate operation may or may not have taken effect: a
// produce whose response never came, or that failed with an error after
// the request may have been applied.
const (
	OK            Outcome = "ok"
	Failed        Outcome = "fail"
	Indeterminate Outcome = "info"
)

// OpType says what an operation did.
type OpType string

// Operation types.
const (
	// OpProduce is one record produced: Value to Topic (Partition -1 when
	// the client's partitioner chose it); when OK, Partition and Offset are
	// those of the acknowledgement.
	OpProduce OpType = "produce"
	// OpPoll is what one consumer received from one partition in one
	// poll: Records, in the order received. Epoch is the consumer's
	// assignment epoch; Isolation "read_committed" when it reads
	// committed transactions only.
	OpPoll OpType = "poll"
	// OpCommit is a group offset commit of one partition: Offset is the
	// next offset to consume.
	OpCommit OpType = "commit"
	// OpOffsets is an observation of a group's committed offset of one
	// partition (OffsetFetch); -1 for none.
	OpOffsets OpType = "offsets"
	// OpHWM is an observation of a partition's high watermark, by
	// ListOffsets or in a fetch response.
	OpHWM OpType = "hwm"
	// OpAssign is a group member being given Partitions of Topic, which
	// starts a new assignment epoch of that member.
	OpAssign OpType = "assign"
	// OpRevoke is a group member losing Partitions of Topic.
	OpRevoke OpType = "revoke"
	// OpCoordinator is a node answering DescribeGroups for Group as its
	// coordinator: Value is the group's state, Target its members; Seq
	// numbers the rounds in which every node was asked at once.
	OpCoordinator OpType = "coordinator"
	// OpTxn ends transaction Txn of a transactional producer: Value is
	// "commit" or "abort"; OK when the end was acknowledged.
	OpTxn OpType = "txn"
	// OpAdmin is an administrative operation of the churn workload
	// (Value describes it).
	OpAdmin OpType = "admin"
	// OpFault is the nemesis starting (Value "start") or healing (Value
	// "heal") a fault; Fault and Target name it.
	OpFault OpType = "fault"
)

// Workloads, as named in OpProduce's Workload.
const (
	WorkloadIdempotent    = "idempotent"    // no loss, no duplicate, no reorder per producer and partition
	WorkloadAtLeastOnce   = "at-least-once" // no loss; duplicates allowed
	WorkloadTransactional = "transactional" // idempotent, plus no aborted reads and no torn transactions
	WorkloadChurn         = "churn"         // admin churn topics: recorded, not checked for loss
)

// Processes with a meaning to the checker.
const (
	// ProcessFinal is the reader that, after every fault is healed, reads
	// every partition from its start to its high watermark. Loss is
	// judged against what it read.
	ProcessFinal = "final"
	// ProcessNemesis injects the faults.
	ProcessNemesis = "nemesis"
)

// Rec is one record as a consumer received it.
type Rec struct {
	Offset int64  `json:"o"`
	Value  string `json:"v"`
}

// Op is one operation of a history. Times are nanoseconds since the run
// started, on one monotonic clock.
type Op struct {
	Index    int64   `json:"i"`
	Process  string  `json:"p"`
	Type     OpType  `json:"t"`
	Invoke   int64   `json:"inv"`
	Complete int64   `json:"cmp"`
	Outcome  Outcome `json:"o"`
	Err      string  `json:"err,omitempty"`

	Workload  string `json:"w,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"part"`
	Offset    int64  `json:"off"`
	Value     string `json:"v,omitempty"`
	// Seq orders the records one producer sends to one partition
	// (produce) and the polls of one consumer.
	Seq        int64   `json:"seq,omitempty"`
	Records    []Rec   `json:"recs,omitempty"`
	Group      string  `json:"group,omitempty"`
	Epoch      int64   `json:"epoch,omitempty"`
	Generation int32   `json:"gen,omitempty"`
	Partitions []int32 `json:"parts,omitempty"`
	Txn        string  `json:"txn,omitempty"`
	Isolation  string  `json:"iso,omitempty"`
	Fault      string  `json:"fault,omitempty"`
	Target     string  `json:"target,omitempty"`
	// Node is the node an operation went to, when known.
	Node string `json:"node,omitempty"`
}

// History collects the operations of a run. It is safe for concurrent use.
// When it has a sink, every operation is also written to it as one JSON
// line as soon as it is added, so that a run that dies leaves its history
// behind.
type History struct {
	start time.Time

	mu   sync.Mutex
	ops  []Op
	sink *bufio.Writer
	file *os.File
	err  error
}

// NewHistory starts an empty history whose clock starts now. path, when
// not empty, is the file the operations are written to.
func NewHistory(path string) (*History, error) {
	h := &History{start: time.Now()}
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("chaos: history: %w", err)
		}
		h.file, h.sink = f, bufio.NewWriterSize(f, 1<<20)
	}
	return h, nil
}

// Now is the time on the history's clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add appends a completed operation, giving it the next index, and returns
// it.
func (h *History) Add(op Op) Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = int64(len(h.ops))
	h.ops = append(h.ops, op)
	if h.sink != nil && h.err == nil {
		b, err := json.Marshal(op)
		if err == nil {
			b = append(b, '\n')
			_, err = h.sink.Write(b)
		}
		h.err = err
	}
	return op
}

// Ops returns a copy of the operations so far, in the order added.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Len is the number of operations so far.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Flush writes what is buffered to the history file.
func (h *History) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sink == nil {
		return h.err
	}
	if err := h.sink.Flush(); err != nil && h.err == nil {
		h.err = err
	}
	return h.err
}

// Close flushes and closes the history file.
func (h *History) Close() error {
	err := h.Flush()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file != nil {
		if cerr := h.file.Close(); err == nil {
			err = cerr
		}
		h.file, h.sink = nil, nil
	}
	return err
}

// ReadHistory reads a history saved as JSON lines. Operations are returned
// in index order.
func ReadHistory(r io.Reader) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("chaos: history line %d: %w", line, err)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("chaos: read history: %w", err)
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Index < ops[j].Index })
	return ops, nil
}

// ReadHistoryFile reads a history file written by a run.
func ReadHistoryFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	defer f.Close()
	return ReadHistory(f)
}
