package metastore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrUnknownTransaction means the metastore holds no state for a
// transactional id.
var ErrUnknownTransaction = errors.New("metastore: unknown transactional id")

// ErrTxnConflict means a transaction write named a version that is no longer
// the stored one: another request, or another coordinator, changed the
// transaction in between. The write did nothing; the caller reloads.
var ErrTxnConflict = errors.New("metastore: transaction changed concurrently")

// TxnState is the durable state of a transactional id, named as Kafka's
// DescribeTransactions and ListTransactions name them.
type TxnState string

// The states a transaction row is written in. PrepareCommit and
// PrepareAbort exist in Kafka between the decision and the markers; Strata
// writes the decision and the markers in one metastore transaction, so a
// row is never stored in them (see docs/transactions.md).
const (
	TxnEmpty          TxnState = "Empty"
	TxnOngoing        TxnState = "Ongoing"
	TxnPrepareCommit  TxnState = "PrepareCommit"
	TxnPrepareAbort   TxnState = "PrepareAbort"
	TxnCompleteCommit TxnState = "CompleteCommit"
	TxnCompleteAbort  TxnState = "CompleteAbort"
)

// Valid reports whether s is one of the states above.
func (s TxnState) Valid() bool {
	switch s {
	case TxnEmpty, TxnOngoing, TxnPrepareCommit, TxnPrepareAbort, TxnCompleteCommit, TxnCompleteAbort:
		return true
	}
	return false
}

// Transaction is the durable state of one transactional id: what a
// coordinator that takes the id over needs to continue or end its
// transaction.
type Transaction struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	State           TxnState
	// TimeoutMs is the producer's transaction.timeout.ms, bounded by the
	// broker's maximum when InitProducerId accepted it.
	TimeoutMs int32
	// Partitions of the open (or last) transaction, sorted, distinct.
	Partitions []TopicPartition
	// Groups whose offsets the transaction commits (AddOffsetsToTxn),
	// sorted, distinct.
	Groups []string
	// PendingOffsets are the offsets TxnOffsetCommit gave the open
	// transaction, one per group and partition (the last one given),
	// sorted. Nobody reads them as committed until the transaction
	// commits; an abort drops them.
	PendingOffsets []TxnOffset
	// StartTime is when the transaction went Ongoing; zero otherwise.
	// The coordinator aborts an Ongoing transaction at StartTime+TimeoutMs.
	StartTime time.Time
	// UpdatedAt is set by the store on every write.
	UpdatedAt time.Time
	// Version is the row's version: 0 for a transaction not stored yet.
	// SaveTransaction writes only over the version it names and returns
	// the row with the next one.
	Version int64
}

// Expired reports whether an Ongoing transaction has outlived its timeout
// at now.
func (t Transaction) Expired(now time.Time) bool {
	return t.State == TxnOngoing && !now.Before(t.StartTime.Add(time.Duration(t.TimeoutMs)*time.Millisecond))
}

// TxnOffset is an offset a transaction commits for a group.
type TxnOffset struct {
	Group string
	GroupOffset
}

// SortTxnOffsets returns offs sorted by group, topic and partition, with
// one entry per group and partition: the last one given.
func SortTxnOffsets(offs []TxnOffset) []TxnOffset {
	type key struct {
		g string
		TopicPartition
	}
	last := make(map[key]int, len(offs))
	for i, o := range offs {
		last[key{o.Group, TopicPartition{o.Topic, o.Partition}}] = i
	}
	out := make([]TxnOffset, 0, len(last))
	for i, o := range offs {
		if last[key{o.Group, TopicPartition{o.Topic, o.Partition}}] == i {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b TxnOffset) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return out
}

// txnOffset is how a pending offset is stored.
type txnOffset struct {
	Group       string `json:"group"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata"`
	CommitTime  int64  `json:"commit_time_ms"`
}

// MarshalTxnOffsets encodes pending offsets as a JSON array.
func MarshalTxnOffsets(offs []TxnOffset) ([]byte, error) {
	out := make([]txnOffset, len(offs))
	for i, o := range offs {
		out[i] = txnOffset{o.Group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime.UnixMilli()}
	}
	return json.Marshal(out)
}

// UnmarshalTxnOffsets decodes what MarshalTxnOffsets wrote.
func UnmarshalTxnOffsets(b []byte) ([]TxnOffset, error) {
	var in []txnOffset
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decode transaction offsets: %w", err)
	}
	var out []TxnOffset
	for _, o := range in {
		out = append(out, TxnOffset{o.Group, GroupOffset{
			Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch,
			Metadata: o.Metadata, CommitTime: time.UnixMilli(o.CommitTime),
		}})
	}
	return out, nil
}

// TxnLeaseKey is the coordinator lease name of a transactional id. The
// coordinators of transactional ids take their leases through the group
// lease mechanism (GroupStore), under names that start with a control
// character no Kafka client puts in a group id, so that a transactional
// id and a group of the same name have a coordinator each.
func TxnLeaseKey(transactionalID string) string { return "\x1ftxn\x1f" + transactionalID }

// TxnEndSpec is the end of a transaction, written by EndTransaction in one
// metastore transaction.
type TxnEndSpec struct {
	// Txn is the row to write, over the stored row at Txn.Version.
	Txn Transaction
	// Markers is the uploaded level-0 object holding one control batch
	// (commit or abort marker) per partition of the transaction, committed
	// as CommitSegment commits a segment. No ObjectKey: the transaction
	// has no partitions.
	Markers SegmentSpec
	// Offsets are committed into the groups' offsets (a commit's pending
	// offsets); an abort has none.
	Offsets []TxnOffset
}

// SortTopicPartitions returns ps sorted by topic and partition, without
// duplicates, as Transaction.Partitions keeps them.
func SortTopicPartitions(ps []TopicPartition) []TopicPartition {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return slices.Compact(out)
}

// txnPartition is how a partition of a transaction is stored.
type txnPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// MarshalTxnPartitions encodes a transaction's partitions as the backends
// store them: JSON, readable by an operator.
func MarshalTxnPartitions(ps []TopicPartition) ([]byte, error) {
	out := make([]txnPartition, len(ps))
	for i, p := range ps {
		out[i] = txnPartition{p.Topic, p.Partition}
	}
	return json.Marshal(out)
}

// UnmarshalTxnPartitions decodes what MarshalTxnPartitions wrote.
func UnmarshalTxnPartitions(b []byte) ([]TopicPartition, error) {
	var in []txnPartition
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decode transaction partitions: %w", err)
	}
	out := make([]TopicPartition, len(in))
	for i, p := range in {
		out[i] = TopicPartition{p.Topic, p.Partition}
	}
	return out, nil
}

// MarshalTxnGroups encodes a transaction's groups as a JSON array.
func MarshalTxnGroups(gs []string) ([]byte, error) {
	if gs == nil {
		gs = []string{}
	}
	return json.Marshal(gs)
}

// UnmarshalTxnGroups decodes what MarshalTxnGroups wrote.
func UnmarshalTxnGroups(b []byte) ([]string, error) {
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode transaction groups: %w", err)
	}
	return out, nil
}

// TxnStore keeps the durable state of transactional ids.
// metastore/postgres and metastore/sqlite implement it;
// metastoretest.RunTxn is its conformance suite.
//
// Every change is a compare-and-set on the row's version, so that two
// coordinators (one deposed but not yet aware of it) or two requests
// racing on one node can never both apply a transition computed from the
// same state: one wins, the other gets ErrTxnConflict and recomputes from
// what the winner wrote.
type TxnStore interface {
	// LoadTransaction returns a transactional id's row;
	// ErrUnknownTransaction when there is none.
	LoadTransaction(ctx context.Context, transactionalID string) (Transaction, error)
	// SaveTransaction writes t over the stored row of t.TransactionalID if
	// that row's version is t.Version (0: no row may exist yet), and
	// returns the row as stored, with the next version and UpdatedAt set
	// by the store. Otherwise it writes nothing and returns
	// ErrTxnConflict. Partitions and Groups are stored sorted and
	// distinct.
	SaveTransaction(ctx context.Context, t Transaction) (Transaction, error)
	// ListTransactions returns every row, ordered by transactional id.
	ListTransactions(ctx context.Context) ([]Transaction, error)
	// DeleteTransaction removes the row of t.TransactionalID if its version
	// is t.Version; ErrTxnConflict otherwise. Kafka forgets transactional
	// ids idle past transactional.id.expiration.ms.
	DeleteTransaction(ctx context.Context, t Transaction) error
	// EndTransaction ends a transaction in ONE metastore transaction: it
	// commits e.Markers as CommitSegment commits a segment (through
	// PlanCommit, so the markers get real offsets and their partitions'
	// producer state), writes e.Txn over the stored row if that row's
	// version is e.Txn.Version, and stores e.Offsets as the groups'
	// committed offsets (without a group lease: they are the
	// transaction's, decided here; offsets of topics deleted meanwhile
	// are dropped). When the version has moved it writes nothing and
	// returns ErrTxnConflict. It returns the row as stored and the
	// markers' chunk results.
	EndTransaction(ctx context.Context, e TxnEndSpec) (Transaction, []ChunkResult, error)
}

// NormalizeTransaction checks t before a backend stores it and returns it
// with sorted, distinct partitions and groups.
func NormalizeTransaction(t Transaction) (Transaction, error) {
	switch {
	case t.TransactionalID == "":
		return t, errors.New("metastore: empty transactional id")
	case !t.State.Valid():
		return t, fmt.Errorf("metastore: invalid transaction state %q", t.State)
	case t.Version < 0:
		return t, fmt.Errorf("metastore: negative transaction version %d", t.Version)
	}
	t.Partitions = SortTopicPartitions(t.Partitions)
	gs := slices.Clone(t.Groups)
	slices.Sort(gs)
	t.Groups = slices.Compact(gs)
	t.PendingOffsets = SortTxnOffsets(t.PendingOffsets)
	return t, nil
}
