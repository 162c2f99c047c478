package txn

import (
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Config configures the transaction coordinator. The defaults are Kafka's.
type Config struct {
	// MaxTimeout bounds the transaction.timeout.ms a producer may ask for
	// (Kafka's transaction.max.timeout.ms); InitProducerId above it is
	// INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// SweepInterval is how often each coordinator looks for open
	// transactions past their timeout and aborts those of the ids it
	// coordinates, or that a dead node coordinated (Kafka's
	// transaction.abort.timed.out.transaction.cleanup.interval.ms).
	SweepInterval time.Duration
	// StoreTimeout bounds each metastore operation made for a request.
	StoreTimeout time.Duration
	// IdleTimeout is how long an id's lease is kept after its last
	// request.
	IdleTimeout time.Duration

	// Owner reports whether this node's view of the cluster gives it the
	// lease named (metastore.TxnLeaseKey); nil means every one. An id is
	// served only once its lease is held as well.
	Owner func(leaseKey string) bool
	// NodeID and Instance name the holder of the leases.
	NodeID   int32
	Instance uuid.UUID
	// Lease is how long an id's coordinator lease lasts after its last
	// renewal; the node's cluster lease, as for the group leases. Zero
	// means DefaultLease.
	Lease time.Duration
	// KeyPrefix is the object key prefix of the marker objects: the
	// ingest path's, so that the orphan sweep covers them.
	KeyPrefix string
}

// Defaults.
const (
	DefaultMaxTimeout    = 15 * time.Minute
	DefaultSweepInterval = 10 * time.Second
	DefaultStoreTimeout  = 5 * time.Second
	DefaultIdleTimeout   = 5 * time.Minute
	DefaultLease         = 6 * time.Second
)

// DefaultConfig returns the configuration RegisterFlags sets up.
func DefaultConfig() Config {
	return Config{MaxTimeout: DefaultMaxTimeout, SweepInterval: DefaultSweepInterval, StoreTimeout: DefaultStoreTimeout, IdleTimeout: DefaultIdleTimeout}
}

// RegisterFlags registers the configuration flags with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.MaxTimeout, "txn.max-timeout", DefaultMaxTimeout, "Longest transaction.timeout.ms a transactional producer may ask for.")
	fs.DurationVar(&c.SweepInterval, "txn.sweep-interval", DefaultSweepInterval, "How often open transactions past their timeout are looked for and aborted.")
	fs.DurationVar(&c.StoreTimeout, "txn.store-timeout", DefaultStoreTimeout, "Timeout of each metastore operation of the transaction coordinator.")
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.MaxTimeout < time.Millisecond || c.MaxTimeout.Milliseconds() > 1<<31-1:
		return fmt.Errorf("txn.max-timeout: %v, want at least 1ms and at most 2^31-1 ms", c.MaxTimeout)
	case c.SweepInterval <= 0:
		return fmt.Errorf("txn.sweep-interval: %v, want > 0", c.SweepInterval)
	case c.StoreTimeout <= 0:
		return fmt.Errorf("txn.store-timeout: %v, want > 0", c.StoreTimeout)
	case c.Lease != 0 && c.Lease < 10*time.Millisecond:
		return fmt.Errorf("txn lease: %v, want at least 10ms", c.Lease)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Instance == (uuid.UUID{}) {
		c.Instance = uuid.New()
	}
	return c
}
