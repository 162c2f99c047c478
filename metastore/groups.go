package metastore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ErrUnknownGroup means the metastore holds neither a row nor committed
// offsets for a consumer group.
var ErrUnknownGroup = errors.New("metastore: unknown group")

// ErrNotGroupCoordinator means another live instance holds a group's
// coordinator lease, or that the lease a group write names is no longer
// live (it expired, or another instance took it): the caller must stop
// acting as the group's coordinator, and the write did nothing.
var ErrNotGroupCoordinator = errors.New("metastore: not the group's coordinator")

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

// GroupInfo is the persisted part of a consumer group: what a coordinator
// that takes the group over needs to continue its current generation.
type GroupInfo struct {
	Name         string
	ProtocolType string // "consumer", "connect", ...; "" for a group that only holds offsets
	Protocol     string // the selected assignor; "" when none
	Generation   int32
	State        string // last state written by the coordinator: "Empty", "Stable", ...
	Leader       string // the leader's member id; "" when none
	// Members of the generation, in join order, with their assignments
	// once the generation is Stable. ListGroups leaves it nil.
	Members   []GroupMember
	UpdatedAt time.Time
}

// GroupMember is one member of a group's stored generation.
type GroupMember struct {
	ID               string        `json:"id"`
	InstanceID       *string       `json:"instance_id,omitempty"` // group.instance.id of a static member
	ClientID         string        `json:"client_id"`
	ClientHost       string        `json:"client_host"`
	SessionTimeout   time.Duration `json:"session_timeout"`
	RebalanceTimeout time.Duration `json:"rebalance_timeout"`
	// Protocols are the member's, in its order of preference, each with
	// the member's metadata for it (its subscription).
	Protocols  []GroupProtocol `json:"protocols"`
	Assignment []byte          `json:"assignment,omitempty"`
}

// GroupProtocol is a protocol a member supports and its metadata for it.
type GroupProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

// MarshalGroupMembers encodes members as the backends store them: JSON, so
// that an operator can read them in the database.
func MarshalGroupMembers(members []GroupMember) ([]byte, error) {
	if members == nil {
		members = []GroupMember{}
	}
	return json.Marshal(members)
}

// UnmarshalGroupMembers decodes what MarshalGroupMembers encoded.
func UnmarshalGroupMembers(b []byte) ([]GroupMember, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var ms []GroupMember
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return ms, nil
}

// GroupLease is a coordinator's lease of one group. At most one instance
// holds a live lease of a group at a time, and every write of the group
// names the lease it is made under: it applies only while that lease is
// live, so a coordinator that lost the group (paused past its lease, or
// deposed by a node whose view of the cluster is newer) writes nothing.
type GroupLease struct {
	Group    string
	NodeID   int32
	Instance uuid.UUID // the holder's process instance
	// Epoch goes up with every acquisition of the group's lease, by any
	// instance, and is never reused.
	Epoch int64
	// ExpiresAt is by the metastore's clock.
	ExpiresAt time.Time
}

// GroupStore keeps consumer groups, their committed offsets and their
// coordinator leases. Offsets are keyed by (group, topic name, partition)
// and belong to their topic: deleting a topic deletes every group's offsets
// for it. metastore/postgres and metastore/sqlite implement it;
// metastoretest.RunGroups is its conformance suite.
//
// Every write takes the GroupLease of the coordinator making it and checks
// it in the same transaction: when the lease of lease.Group is not held by
// lease.Instance at lease.Epoch, or has expired by the metastore's clock,
// the write does nothing and returns ErrNotGroupCoordinator. Reads take no
// lease.
type GroupStore interface {
	// AcquireGroupLease takes group's coordinator lease for instance of
	// node nodeID, live for lease from now by the metastore's clock, with a
	// new epoch above every earlier one of the group. It fails with
	// ErrNotGroupCoordinator while another instance holds a live lease.
	// An instance that already holds the lease gets a new epoch too:
	// writes under its earlier epoch are refused from then on.
	AcquireGroupLease(ctx context.Context, group string, nodeID int32, instance uuid.UUID, lease time.Duration) (GroupLease, error)
	// RenewGroupLeases extends, to lease from now, the leases of the named
	// groups that instance holds and that are still live, in one
	// statement, and returns the leases it extended, ordered by group. An
	// expired lease is not renewed: its holder must acquire it again.
	RenewGroupLeases(ctx context.Context, instance uuid.UUID, groups []string, lease time.Duration) ([]GroupLease, error)
	// ReleaseGroupLease ends lease if it is still held at its epoch, so
	// that another instance can take it at once.
	ReleaseGroupLease(ctx context.Context, lease GroupLease) error
	// ReleaseGroupLeases ends every lease instance holds.
	ReleaseGroupLeases(ctx context.Context, instance uuid.UUID) error
	// GroupLeaseHolder returns group's lease if it is live by the
	// metastore's clock; ok is false when nobody holds it.
	GroupLeaseHolder(ctx context.Context, group string) (lease GroupLease, ok bool, err error)

	// CommitOffsets stores offsets for lease.Group in one transaction,
	// replacing earlier commits of the same partitions; when the same
	// partition appears twice, the later entry wins. It creates the
	// group's row when missing (an Empty group with no protocol type). If
	// a topic does not exist it returns ErrUnknownTopic and stores
	// nothing. Committing no offsets does nothing, without checking the
	// lease.
	CommitOffsets(ctx context.Context, lease GroupLease, offsets []GroupOffset) error
	// FetchOffsets returns the offsets committed by group, ordered by topic
	// and partition: for every topic when topics is nil, else for the named
	// topics only. A group without commits, known or not, has none: the
	// result is empty and the error nil.
	FetchOffsets(ctx context.Context, group string, topics []string) ([]GroupOffset, error)
	// DeleteOffsets removes lease.Group's commits of the given partitions;
	// partitions without a commit are ignored. Deleting none does
	// nothing, without checking the lease.
	DeleteOffsets(ctx context.Context, lease GroupLease, partitions []TopicPartition) error

	// SaveGroup creates or updates the row of group g.Name, which must be
	// lease.Group, with its members. A row is never moved to an older
	// generation: a save whose Generation is below the stored one is
	// ignored. UpdatedAt is set by the store.
	SaveGroup(ctx context.Context, lease GroupLease, g GroupInfo) error
	// LoadGroup returns a group's row with its members; ErrUnknownGroup
	// when there is none.
	LoadGroup(ctx context.Context, name string) (GroupInfo, error)
	// ListGroups returns every group row, without members, ordered by
	// name. Committing offsets creates a row, so groups that only hold
	// offsets are listed.
	ListGroups(ctx context.Context) ([]GroupInfo, error)
	// DeleteGroup removes lease.Group's row and all its offsets in one
	// transaction; ErrUnknownGroup when there is neither. The lease stays.
	DeleteGroup(ctx context.Context, lease GroupLease) error
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
