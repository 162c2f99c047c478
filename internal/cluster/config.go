package cluster

import (
	"flag"
	"fmt"
	"time"
)

// Config configures membership, heartbeats and the controller.
type Config struct {
	// Lease is how long a node stays live after its last heartbeat, and
	// how long the controller lease lasts after its last renewal.
	Lease time.Duration
	// HeartbeatInterval is the time between heartbeats; zero means a
	// third of Lease.
	HeartbeatInterval time.Duration
	// ControllerInterval is the time between two controller passes
	// (lease renewal and leader balancing).
	ControllerInterval time.Duration
	// RefreshInterval is the time between two polls of the registry and
	// of the leader assignment by each node's View.
	RefreshInterval time.Duration
	// RegisterWait is how long Start keeps trying when a live instance
	// holds the node id, before it fails. Zero fails at once. A process
	// restarted right after a crash finds its own previous instance still
	// live until that lease ends: `strata dev` waits about one Lease.
	RegisterWait time.Duration
}

// Defaults.
const (
	DefaultLease              = 6 * time.Second
	DefaultControllerInterval = time.Second
	DefaultRefreshInterval    = time.Second
)

// DefaultConfig returns the configuration RegisterFlags sets up.
func DefaultConfig() Config {
	return Config{
		Lease:              DefaultLease,
		ControllerInterval: DefaultControllerInterval,
		RefreshInterval:    DefaultRefreshInterval,
	}
}

// RegisterFlags registers the configuration flags with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Lease, "cluster.lease", DefaultLease, "How long a node counts as live after its last heartbeat; also the controller lease.")
	fs.DurationVar(&c.HeartbeatInterval, "cluster.heartbeat-interval", 0, "Time between heartbeats (0: a third of cluster.lease).")
	fs.DurationVar(&c.ControllerInterval, "cluster.controller-interval", DefaultControllerInterval, "Time between controller passes that renew the lease and balance partition leaders.")
	fs.DurationVar(&c.RefreshInterval, "cluster.refresh-interval", DefaultRefreshInterval, "Time between polls of the node registry and the partition leaders.")
	fs.DurationVar(&c.RegisterWait, "cluster.register-wait", 0, "How long start-up waits for a live process holding this node id to go away (0: fail at once).")
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.Lease < 10*time.Millisecond:
		return fmt.Errorf("cluster.lease: %v, want at least 10ms", c.Lease)
	case c.HeartbeatInterval < 0:
		return fmt.Errorf("cluster.heartbeat-interval: %v, want >= 0", c.HeartbeatInterval)
	case c.HeartbeatInterval >= c.Lease:
		return fmt.Errorf("cluster.heartbeat-interval: %v must be shorter than cluster.lease %v", c.HeartbeatInterval, c.Lease)
	case c.ControllerInterval <= 0:
		return fmt.Errorf("cluster.controller-interval: %v, want > 0", c.ControllerInterval)
	case c.ControllerInterval >= c.Lease:
		return fmt.Errorf("cluster.controller-interval: %v must be shorter than cluster.lease %v, which each pass renews", c.ControllerInterval, c.Lease)
	case c.RefreshInterval <= 0:
		return fmt.Errorf("cluster.refresh-interval: %v, want > 0", c.RefreshInterval)
	case c.RegisterWait < 0:
		return fmt.Errorf("cluster.register-wait: %v, want >= 0", c.RegisterWait)
	}
	return nil
}

// heartbeatInterval is HeartbeatInterval or its default.
func (c *Config) heartbeatInterval() time.Duration {
	if c.HeartbeatInterval > 0 {
		return c.HeartbeatInterval
	}
	return c.Lease / 3
}
