package groups

import (
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Config configures the group coordinator. The defaults are Kafka's.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for (group.min.session.timeout.ms and
	// group.max.session.timeout.ms); JoinGroup outside them is
	// INVALID_SESSION_TIMEOUT.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is how long the first rebalance of an empty
	// group waits for more members (group.initial.rebalance.delay.ms).
	// Each member that joins meanwhile extends the wait, up to the
	// rebalance timeout. Zero disables it.
	InitialRebalanceDelay time.Duration
	// MaxGroupSize caps the members of one group (group.max.size), those
	// waiting for their member id included; zero means no limit. A member
	// beyond it gets GROUP_MAX_SIZE_REACHED. Kafka's default has no limit;
	// Strata's is 1000, so that a client joining in a loop cannot grow a
	// group's state and its rebalances without end.
	MaxGroupSize int
	// MaxMetadataSize caps the metadata string of a committed offset
	// (offset.metadata.max.bytes); larger is OFFSET_METADATA_TOO_LARGE.
	MaxMetadataSize int
	// StoreTimeout bounds each metastore write (offset commits, group
	// deletions) made for a request (offsets.commit.timeout.ms).
	StoreTimeout time.Duration

	// ConsumerSessionTimeout is the session timeout of consumer-protocol
	// (KIP-848) members, which the coordinator sets rather than the member
	// (group.consumer.session.timeout.ms): a member not heartbeating for
	// that long is removed. ConsumerHeartbeatInterval is the interval the
	// coordinator asks them to heartbeat at
	// (group.consumer.heartbeat.interval.ms); it is also how soon a member
	// learns of a new assignment.
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration

	// Owner reports whether this node coordinates a group; requests for
	// other groups are answered NOT_COORDINATOR. Nil means every group.
	// Owner is the node's view and two nodes may disagree: a group is
	// served only once its lease in the metastore is held as well.
	Owner func(group string) bool
	// NodeID and Instance name the holder of the group leases this
	// coordinator takes: the node's id, and the process's instance id
	// (a random one when zero).
	NodeID   int32
	Instance uuid.UUID
	// Lease is how long a group's coordinator lease lasts after its last
	// renewal, by the metastore's clock; all leases of the coordinator are
	// renewed together every third of it. The node's cluster lease is the
	// natural value, so that a dead node's groups become free when the
	// node itself is known to be dead. Zero means DefaultLease.
	Lease time.Duration
}

// Defaults, as in Kafka.
const (
	DefaultMinSessionTimeout         = 6 * time.Second
	DefaultMaxSessionTimeout         = 30 * time.Minute
	DefaultInitialRebalanceDelay     = 3 * time.Second
	DefaultMaxMetadataSize           = 4096
	DefaultStoreTimeout              = 5 * time.Second
	DefaultLease                     = 6 * time.Second
	DefaultMaxGroupSize              = 1000 // not Kafka's, which has no limit: see Config.MaxGroupSize
	DefaultConsumerSessionTimeout    = 45 * time.Second
	DefaultConsumerHeartbeatInterval = 5 * time.Second
)

// DefaultConfig returns the configuration RegisterFlags sets up.
func DefaultConfig() Config {
	return Config{
		MinSessionTimeout:     DefaultMinSessionTimeout,
		MaxSessionTimeout:     DefaultMaxSessionTimeout,
		InitialRebalanceDelay: DefaultInitialRebalanceDelay,
		MaxMetadataSize:       DefaultMaxMetadataSize,
		MaxGroupSize:          DefaultMaxGroupSize,
		StoreTimeout:          DefaultStoreTimeout,

		ConsumerSessionTimeout:    DefaultConsumerSessionTimeout,
		ConsumerHeartbeatInterval: DefaultConsumerHeartbeatInterval,
	}
}

// RegisterFlags registers the configuration flags with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.MinSessionTimeout, "groups.min-session-timeout", DefaultMinSessionTimeout, "Shortest session timeout a consumer group member may ask for.")
	fs.DurationVar(&c.MaxSessionTimeout, "groups.max-session-timeout", DefaultMaxSessionTimeout, "Longest session timeout a consumer group member may ask for.")
	fs.DurationVar(&c.InitialRebalanceDelay, "groups.initial-rebalance-delay", DefaultInitialRebalanceDelay, "How long the first rebalance of an empty group waits for more members (0: none).")
	fs.IntVar(&c.MaxGroupSize, "groups.max-group-size", DefaultMaxGroupSize, "Most members in one consumer group (0: no limit).")
	fs.IntVar(&c.MaxMetadataSize, "groups.max-metadata-size", DefaultMaxMetadataSize, "Longest metadata string of a committed offset, in bytes.")
	fs.DurationVar(&c.ConsumerSessionTimeout, "groups.consumer-session-timeout", DefaultConsumerSessionTimeout, "Session timeout of consumer-protocol (KIP-848) group members.")
	fs.DurationVar(&c.ConsumerHeartbeatInterval, "groups.consumer-heartbeat-interval", DefaultConsumerHeartbeatInterval, "Heartbeat interval of consumer-protocol (KIP-848) group members.")
	fs.DurationVar(&c.StoreTimeout, "groups.store-timeout", DefaultStoreTimeout, "Timeout of each metastore write for consumer groups (offset commits, deletions).")
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.MinSessionTimeout <= 0:
		return fmt.Errorf("groups.min-session-timeout: %v, want > 0", c.MinSessionTimeout)
	case c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("groups.max-session-timeout: %v is below groups.min-session-timeout %v", c.MaxSessionTimeout, c.MinSessionTimeout)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("groups.initial-rebalance-delay: %v, want >= 0", c.InitialRebalanceDelay)
	case c.MaxGroupSize < 0:
		return fmt.Errorf("groups.max-group-size: %d, want >= 0", c.MaxGroupSize)
	case c.MaxMetadataSize < 0:
		return fmt.Errorf("groups.max-metadata-size: %d, want >= 0", c.MaxMetadataSize)
	case c.StoreTimeout <= 0:
		return fmt.Errorf("groups.store-timeout: %v, want > 0", c.StoreTimeout)
	case c.ConsumerSessionTimeout < 0:
		return fmt.Errorf("groups.consumer-session-timeout: %v, want >= 0", c.ConsumerSessionTimeout)
	case c.ConsumerHeartbeatInterval < 0 || c.ConsumerSessionTimeout > 0 && c.ConsumerHeartbeatInterval >= c.ConsumerSessionTimeout:
		return fmt.Errorf("groups.consumer-heartbeat-interval: %v, want >= 0 and below groups.consumer-session-timeout %v", c.ConsumerHeartbeatInterval, c.ConsumerSessionTimeout)
	case c.Lease != 0 && c.Lease < 10*time.Millisecond:
		return fmt.Errorf("groups lease: %v, want at least 10ms", c.Lease)
	}
	return nil
}
