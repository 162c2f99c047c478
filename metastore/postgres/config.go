package postgres

import (
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures the PostgreSQL metastore.
type Config struct {
	// URL is a libpq connection string or postgres:// URL.
	URL string
	// URLFile names a file holding the URL, so that its password appears
	// neither on the command line nor in the configuration file. It wins
	// over URL.
	URLFile string
	// MaxConns bounds the connection pool.
	MaxConns int32
}

// DefaultMaxConns is the default size of the connection pool.
const DefaultMaxConns = 16

// RegisterFlags registers the flags of c, with their defaults, on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "metastore.postgres.url", "", "PostgreSQL connection URL of the metastore, e.g. postgres://strata@db:5432/strata")
	fs.StringVar(&c.URLFile, "metastore.postgres.url-file", "", "file holding the PostgreSQL connection URL (with its password); wins over metastore.postgres.url")
	c.MaxConns = DefaultMaxConns
	fs.Var((*int32Value)(&c.MaxConns), "metastore.postgres.max-conns", "maximum number of connections to the metastore")
}

// Validate reports the first problem of c.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("metastore.postgres.url: required")
	}
	if _, err := pgxpool.ParseConfig(c.URL); err != nil {
		return fmt.Errorf("metastore.postgres.url: %w", err)
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("metastore.postgres.max-conns: %d, want at least 1", c.MaxConns)
	}
	return nil
}

type int32Value int32

func (v *int32Value) String() string { return strconv.FormatInt(int64(*v), 10) }

func (v *int32Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return err
	}
	*v = int32Value(n)
	return nil
}
