package metastore

import (
	"context"
	"time"
)

// ConsumerGroupStore keeps the state of consumer-protocol (KIP-848) groups
// that a coordinator taking a group over needs: the group epoch, the target
// assignment and its epoch, and each member with its epoch, subscription and
// the partitions it owns. The state is opaque to the metastore (the group
// coordinator encodes it) apart from the columns listed by
// ListConsumerGroups. The row belongs to the group's consumer_groups row:
// DeleteGroup deletes it with the group's offsets.
type ConsumerGroupStore interface {
	// SaveConsumerGroup writes the group's state under lease, creating the
	// group's consumer_groups row when missing. It returns
	// ErrNotGroupCoordinator, writing nothing, unless the lease is live.
	// A state whose Epoch is below the stored one is ignored.
	SaveConsumerGroup(ctx context.Context, lease GroupLease, g ConsumerGroupState) error
	// LoadConsumerGroup returns the group's state, or ErrUnknownGroup.
	LoadConsumerGroup(ctx context.Context, name string) (ConsumerGroupState, error)
	// DeleteConsumerGroup deletes the group's state (not its offsets),
	// when the group becomes a classic group. Absent state is no error. It
	// returns ErrNotGroupCoordinator unless the lease is live.
	DeleteConsumerGroup(ctx context.Context, lease GroupLease) error
	// ListConsumerGroups returns every consumer-protocol group with its
	// epoch and state, ordered by name, without the encoded state.
	ListConsumerGroups(ctx context.Context) ([]ConsumerGroupState, error)
}

// ConsumerGroupState is the stored state of one consumer-protocol group.
type ConsumerGroupState struct {
	Name string
	// Epoch is the group epoch, which rises whenever the group's members
	// or subscriptions change.
	Epoch int32
	// State is the group's state as ConsumerGroupDescribe names it
	// ("Empty", "Assigning", "Reconciling", "Stable").
	State string
	// Data is the coordinator's encoding of the members and the target
	// assignment (JSON, readable in the database).
	Data      []byte
	UpdatedAt time.Time
}
