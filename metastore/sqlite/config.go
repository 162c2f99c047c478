package sqlite

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Config configures the SQLite metastore.
type Config struct {
	// Path is the database file. It is created, with its directory, when
	// missing. An in-memory database is not supported: the store opens
	// several connections and each would see its own empty database.
	Path string
	// BusyTimeout is how long a statement waits for a lock held by another
	// process before failing. Zero means the default, 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read connection pool. Zero means the
	// default, 4. Writes always use one connection.
	ReadConns int
}

const (
	defaultPath        = "strata-data/metastore.db"
	defaultBusyTimeout = 5 * time.Second
	defaultReadConns   = 4
)

// RegisterFlags registers the configuration flags with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Path, "metastore.sqlite.path", defaultPath, "SQLite metastore database file (created when missing).")
	fs.DurationVar(&c.BusyTimeout, "metastore.sqlite.busy-timeout", defaultBusyTimeout, "How long a SQLite statement waits for a lock held by another process.")
	fs.IntVar(&c.ReadConns, "metastore.sqlite.read-conns", defaultReadConns, "Connections in the SQLite read pool.")
}

// Validate reports a configuration that New would refuse.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("sqlite metastore: path is required")
	}
	if isMemory(c.Path) {
		return fmt.Errorf("sqlite metastore: in-memory database %q is not supported, use a file", c.Path)
	}
	if strings.HasPrefix(c.Path, "file:") || strings.ContainsAny(c.Path, "?#") {
		return fmt.Errorf("sqlite metastore: path %q must be a plain file path, not a URI", c.Path)
	}
	if c.BusyTimeout < 0 {
		return fmt.Errorf("sqlite metastore: negative busy timeout %v", c.BusyTimeout)
	}
	if c.ReadConns < 0 {
		return fmt.Errorf("sqlite metastore: negative read connections %d", c.ReadConns)
	}
	return nil
}

func isMemory(path string) bool {
	return path == ":memory:" || strings.Contains(path, "mode=memory") || strings.HasPrefix(path, "file::memory:")
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.BusyTimeout == 0 {
		c.BusyTimeout = defaultBusyTimeout
	}
	if c.ReadConns == 0 {
		c.ReadConns = defaultReadConns
	}
	return c
}
