package metastore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Errors of the cluster methods.
var (
	// ErrNodeIDInUse means a live node, another process, holds the node id
	// being registered.
	ErrNodeIDInUse = errors.New("metastore: node id held by a live node")
	// ErrNodeNotRegistered means a heartbeat's node row is gone or belongs
	// to another process instance: the registration was lost.
	ErrNodeNotRegistered = errors.New("metastore: node not registered by this instance")
	// ErrNotController means the controller lease is held by another live
	// instance, or was lost: the caller must not assign leaders.
	ErrNotController = errors.New("metastore: not the active controller")
)

// NodeInfo is one node's row in the registry.
type NodeInfo struct {
	ID int32
	// Instance is a random id chosen by each process at start-up; it tells
	// a restart of a node apart from a second process using the same id.
	Instance uuid.UUID
	Host     string
	Port     int32
	Rack     string   // zone; "" when none
	Roles    []string // role names, as the node registered them
	// Listeners are the node's advertised address on each of its Kafka
	// listeners, in Kafka's advertised.listeners form
	// ("NAME://host:port,..."); "" when Host and Port are its only one.
	Listeners string
	// RegisteredAt and ExpiresAt are by the metastore's clock: the node is
	// live until ExpiresAt, which each heartbeat pushes forward.
	RegisteredAt time.Time
	ExpiresAt    time.Time
}

// ControllerLease is the state of the controller lease. At most one
// instance holds it at a time; Term goes up whenever another instance
// takes it, so that writes of a former holder can be refused.
type ControllerLease struct {
	NodeID    int32 // -1 when no instance holds a live lease
	Instance  uuid.UUID
	Term      int64
	ExpiresAt time.Time
}

// ClusterState is what every node polls: the live nodes, the controller,
// and the version of the leader assignment.
type ClusterState struct {
	Nodes      []NodeInfo // live nodes, ordered by ID
	Controller ControllerLease
	// LeadersVersion goes up with every MoveLeaders that changed leaders.
	LeadersVersion int64
	Now            time.Time // the metastore's clock when the state was read
}

// PartitionLeader is a partition's leader node and leader epoch.
type PartitionLeader struct {
	TopicID   uuid.UUID
	Partition int32
	Leader    int32 // -1 when unassigned
	Epoch     int32
}

// LeaderMove asks to move a partition's leadership. It applies only when
// the partition still has leader From in epoch FromEpoch.
type LeaderMove struct {
	TopicID   uuid.UUID
	Partition int32
	From      int32
	FromEpoch int32
	To        int32
}

// EpochEnd answers OffsetForLeaderEpoch: the largest epoch at or below the
// one asked for, and the offset at which it ended (the start offset of the
// next epoch, or the high watermark for the current one). Both are -1 when
// the epoch is unknown (negative, or above the current epoch).
type EpochEnd struct {
	Epoch     int32
	EndOffset int64
}

// UndefinedEpochEnd is the EpochEnd of an unknown epoch.
var UndefinedEpochEnd = EpochEnd{Epoch: -1, EndOffset: -1}

// EpochStart is an entry of a partition's leader epoch history: epoch
// Epoch began when the partition's next offset was StartOffset.
type EpochStart struct {
	Epoch       int32
	StartOffset int64
}

// ClusterStore keeps the node registry, the controller lease and the
// leader epoch history. metastore/postgres and metastore/sqlite implement
// it; metastoretest.RunCluster is its conformance suite.
//
// Lease times are judged by the metastore's clock, never the nodes', so
// nodes with skewed clocks agree on who is live.
type ClusterStore interface {
	// RegisterNode inserts or takes over n's row, live for lease. It
	// fails with ErrNodeIDInUse when a live row with n.ID belongs to
	// another instance; a row whose lease expired is taken over.
	RegisterNode(ctx context.Context, n NodeInfo, lease time.Duration) error
	// HeartbeatNode extends the lease of node id registered by instance;
	// ErrNodeNotRegistered when its row is gone or another instance's.
	HeartbeatNode(ctx context.Context, id int32, instance uuid.UUID, lease time.Duration) error
	// DeregisterNode removes node id's row if instance holds it.
	DeregisterNode(ctx context.Context, id int32, instance uuid.UUID) error
	// ClusterState returns the live nodes, the controller lease and the
	// leader assignment version, as of one moment.
	ClusterState(ctx context.Context) (ClusterState, error)

	// AcquireController takes or renews the controller lease for instance
	// of node nodeID, until lease from now, and returns its term. It fails
	// with ErrNotController while another instance holds a live lease.
	// Renewing keeps the term; taking it over from another instance, live
	// or not before, raises the term.
	AcquireController(ctx context.Context, nodeID int32, instance uuid.UUID, lease time.Duration) (term int64, err error)
	// ReleaseController gives the lease up if instance holds it, so that
	// another instance can take it at once.
	ReleaseController(ctx context.Context, instance uuid.UUID) error

	// PartitionLeaders returns every partition's leader and epoch, ordered
	// by topic id and partition.
	PartitionLeaders(ctx context.Context) ([]PartitionLeader, error)
	// MoveLeaders applies moves in one transaction, provided instance
	// holds a live controller lease of the given term (else
	// ErrNotController, nothing written). A move whose partition is gone
	// or no longer has leader From in epoch FromEpoch is skipped. Each
	// applied move raises the partition's epoch by one and records the
	// new epoch's start offset, the partition's next offset at the move,
	// in the epoch history. It returns the new leaders and epochs of the
	// moved partitions, and raises LeadersVersion when there are any.
	MoveLeaders(ctx context.Context, instance uuid.UUID, term int64, moves []LeaderMove) ([]PartitionLeader, error)
	// OffsetForLeaderEpoch answers Kafka's OffsetForLeaderEpoch for one
	// partition, from the partition's current epoch, high watermark and
	// epoch history read at one moment; ErrUnknownPartition when absent.
	OffsetForLeaderEpoch(ctx context.Context, topicID uuid.UUID, partition int32, epoch int32) (EpochEnd, error)
}

// ResolveEpochEnd computes OffsetForLeaderEpoch the way Kafka's leader
// epoch cache does. requested is the epoch asked for; current and hw are
// the partition's epoch and high watermark; floor is the history entry
// with the largest epoch <= requested and next the one with the smallest
// epoch > requested (nil when none). Epochs before the first recorded one
// (a partition's epoch 0, before it had a leader) have no entry: their end
// is the first entry's start offset.
func ResolveEpochEnd(requested, current int32, hw int64, floor, next *EpochStart) EpochEnd {
	switch {
	case requested < 0 || requested > current:
		return UndefinedEpochEnd
	case requested == current:
		return EpochEnd{Epoch: current, EndOffset: hw}
	case next == nil:
		// Every epoch above 0 is recorded when it starts; a missing entry
		// means the history does not cover this epoch.
		return UndefinedEpochEnd
	case floor == nil:
		return EpochEnd{Epoch: requested, EndOffset: next.StartOffset}
	default:
		return EpochEnd{Epoch: floor.Epoch, EndOffset: next.StartOffset}
	}
}
