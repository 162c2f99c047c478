package metastore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// ErrUnknownGroup means the metastore holds neither a row nor committed
// offsets for a consumer group.
var ErrUnknownGroup = errors.New("metastore: unknown group")

// TopicPartition names one partition by topic name, as consumer groups do.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// GroupOffset is the offset a consumer group committed for one partition.
type GroupOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32  // -1 when the client did not send one
	Metadata    string // free text from the client; Kafka's null is stored as ""
	// CommitTime is when the offset was committed, kept to the millisecond.
	// A zero CommitTime given to CommitOffsets means "now".
	CommitTime time.Time
}

// GroupInfo is the persisted part of a consumer group. Members are not
// persisted: after a coordinator restart they rejoin, and the group starts
// again from its last generation.
type GroupInfo struct {
	Name         string
	ProtocolType string // "consumer", "connect", ...; "" for a group that only holds offsets
	Protocol     string // the selected assignor; "" when none
	Generation   int32
	State        string // last state written by the coordinator: "Empty", "Stable", ...
	UpdatedAt    time.Time
}

// GroupStore keeps consumer groups and their committed offsets. Offsets are
// keyed by (group, topic name, partition) and belong to their topic: deleting
// a topic deletes every group's offsets for it. metastore/postgres and
// metastore/sqlite implement it; metastoretest.RunGroups is its conformance
// suite.
type GroupStore interface {
	// CommitOffsets stores offsets for group in one transaction, replacing
	// earlier commits of the same partitions; when the same partition
	// appears twice, the later entry wins. It creates the group's row when
	// missing (an Empty group with no protocol type). If a topic does not
	// exist it returns ErrUnknownTopic and stores nothing. Committing no
	// offsets does nothing.
	CommitOffsets(ctx context.Context, group string, offsets []GroupOffset) error
	// FetchOffsets returns the offsets committed by group, ordered by topic
	// and partition: for every topic when topics is nil, else for the named
	// topics only. A group without commits, known or not, has none: the
	// result is empty and the error nil.
	FetchOffsets(ctx context.Context, group string, topics []string) ([]GroupOffset, error)
	// DeleteOffsets removes the group's commits of the given partitions;
	// partitions without a commit are ignored.
	DeleteOffsets(ctx context.Context, group string, partitions []TopicPartition) error

	// SaveGroup creates or updates a group's row. A row is never moved to
	// an older generation: a save whose Generation is below the stored one
	// is ignored. UpdatedAt is set by the store.
	SaveGroup(ctx context.Context, g GroupInfo) error
	// LoadGroup returns a group's row; ErrUnknownGroup when there is none.
	LoadGroup(ctx context.Context, name string) (GroupInfo, error)
	// ListGroups returns every group row, ordered by name. Committing
	// offsets creates a row, so groups that only hold offsets are listed.
	ListGroups(ctx context.Context) ([]GroupInfo, error)
	// DeleteGroup removes the group's row and all its offsets in one
	// transaction; ErrUnknownGroup when there is neither.
	DeleteGroup(ctx context.Context, name string) error
}

// SortedOffsets returns a copy of offsets with one entry per partition, the
// last one given, ordered by topic and then partition: the order in which
// backends write the rows of a commit, so that concurrent commits to one
// group take their row locks in the same order.
func SortedOffsets(offsets []GroupOffset) []GroupOffset {
	last := make(map[TopicPartition]int, len(offsets))
	for i, o := range offsets {
		last[TopicPartition{o.Topic, o.Partition}] = i
	}
	out := make([]GroupOffset, 0, len(last))
	for i, o := range offsets {
		if last[TopicPartition{o.Topic, o.Partition}] == i {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b GroupOffset) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return out
}
