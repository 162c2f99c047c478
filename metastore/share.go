package metastore

import (
	"cmp"
	"context"
	"slices"

	"github.com/google/uuid"
)

// Share groups (KIP-932). The delivery state of each share partition (a
// topic partition as one share group consumes it) is one row: its start
// offset and its in-flight records in a value the store does not read
// (internal/share encodes it). A request's changes to every share
// partition it touches are one transaction, so that acknowledgements are
// durable before they are answered and no two nodes hand out the same
// record.

// SharePartitionKey names a share partition.
type SharePartitionKey struct {
	Group     string
	TopicID   uuid.UUID
	Partition int32
}

// CompareSharePartitionKeys orders keys by group, topic id and partition:
// the order in which UpdateShareStates locks them.
func CompareSharePartitionKeys(a, b SharePartitionKey) int {
	if c := cmp.Compare(a.Group, b.Group); c != 0 {
		return c
	}
	if c := slices.Compare(a.TopicID[:], b.TopicID[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// ShareState is the stored state of one share partition.
type ShareState struct {
	Key SharePartitionKey
	// Found is false for a share partition never written: StartOffset
	// and State are zero.
	Found       bool
	StartOffset int64
	// State is the in-flight records, opaque to the store.
	State []byte
}

// ShareStore holds the state of share groups.
type ShareStore interface {
	// UpdateShareStates reads the states of keys (distinct) in one
	// transaction, locked against concurrent updates of the same keys,
	// passes them to fn in the order of keys, and writes the states fn
	// returns (any subset, by key; a returned state's Found is ignored).
	// When fn fails nothing is written and its error is returned. fn may
	// be called more than once if the transaction is retried, and must
	// not keep what it was given.
	UpdateShareStates(ctx context.Context, keys []SharePartitionKey,
		fn func(states []ShareState) ([]ShareState, error)) error
	// ShareStates returns the stored states of a group's share
	// partitions, ordered by topic id and partition.
	ShareStates(ctx context.Context, group string) ([]ShareState, error)
	// DeleteShareStates deletes the named share partitions of group, or
	// all of them when keys is nil.
	DeleteShareStates(ctx context.Context, group string, keys []SharePartitionKey) error
	// ShareGroupConfigs returns a group's configs (share.record.lock.duration.ms, ...).
	ShareGroupConfigs(ctx context.Context, group string) (map[string]string, error)
	// SetShareGroupConfigs sets (non-nil) or deletes (nil) a group's configs.
	SetShareGroupConfigs(ctx context.Context, group string, set map[string]*string) error
}
