package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stratalog/strata/internal/bench"
	"github.com/stratalog/strata/internal/cli"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/version"
	"github.com/stratalog/strata/metastore/postgres"
)

const usage = `strata: a Kafka-compatible log service on object storage.

Usage:
  strata dev       run every role in one process with embedded defaults:
                   Kafka on 127.0.0.1:9092, admin HTTP on 127.0.0.1:9644,
                   objects in ./.strata/objects, metadata in ./.strata/meta.db
  strata serve     run a node against PostgreSQL and S3 (see -h for flags;
                   every flag can be set as STRATA_<FLAG> or in -config.file)
  strata migrate   apply the PostgreSQL metastore migrations and exit
  strata topics    create, list, describe, alter and delete topics
  strata produce   produce lines from stdin to a topic
  strata consume   print a topic's records (alone or in a group)
  strata groups    list, describe, reset and delete consumer groups
  strata status    brokers, topics and leaders; node metrics with --admin
  strata users     create, list and delete SCRAM users (also straight in a metastore)
  strata acls      create, list and delete access control lists
  strata bench     produce|consume|e2e load test with a latency summary
  strata version   the release and commit of this build
  strata help      show this text
`

// Main runs the strata command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stderr)
	case "migrate":
		err = runMigrate(ctx, args[1:], stdout, stderr)
	case "topics", "produce", "consume", "groups", "status", "users", "acls":
		return cli.Main(ctx, args, stdout, stderr)
	case "bench":
		return bench.Main(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version.Get())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "strata: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// DevDefaults changes the serve defaults into strata dev's embedded ones.
func DevDefaults(c *Config, dataDir string) {
	c.Kafka.ListenAddress = "127.0.0.1:9092"
	c.AdminAddress = "127.0.0.1:9644"
	c.Objects.URL = filepath.Join(dataDir, "objects")
	c.SQLite.Path = filepath.Join(dataDir, "meta.db")
	c.Postgres.URL = ""
	// A restart right after a crash finds its own old registration still
	// live for up to one lease: wait it out instead of failing.
	c.Cluster.RegisterWait = c.Cluster.Lease + time.Second
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("dev", stderr)
	cfg.RegisterFlags(fs)
	dataDir := ".strata"
	fs.StringVar(&dataDir, "data-dir", dataDir, "directory of the objects and the SQLite metastore")
	secure := fs.Bool("secure", false, "also serve a SASL_SSL listener on "+DevSecureAddress+" (or the SASL_SSL listener of -kafka.listeners), with a throwaway CA and certificate under DATA-DIR/tls and a user "+DevAdminUser+" whose password is in DATA-DIR/admin-password")
	// -h shows the defaults dev runs with, not those of serve.
	DevDefaults(&cfg, dataDir)
	fs.VisitAll(func(f *flag.Flag) { f.DefValue = f.Value.String() })
	// The dev defaults go under the file, the environment and the flags,
	// with the -data-dir these give.
	if err := Load(&cfg, fs, args, func() { DevDefaults(&cfg, dataDir) }); err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	var sec *devSecure
	if *secure {
		var err error
		if sec, err = setUpDevSecure(&cfg, dataDir); err != nil {
			return err
		}
	}
	a, err := startProcess(ctx, cfg)
	if err != nil {
		return err
	}
	if sec != nil {
		if err := createDevAdmin(ctx, a.Store(), sec.passwordFile); err != nil {
			a.Shutdown(10 * time.Second)
			return err
		}
	}
	// The banner says "running" once it is true: after a crash, joining
	// the cluster waits out the old registration first.
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-a.Serving():
	}
	fmt.Fprintf(stdout, `Strata dev is running.
  Kafka bootstrap server: %s   (e.g. kcat -b %s -L)
  Admin HTTP:             http://%s/metrics
%s  Data:                   %s (objects and meta.db; survives restarts)
`, a.KafkaAddr(), a.KafkaAddr(), addrString(a.AdminAddr()), consoleLine(a), dataDir)
	if sec != nil {
		printDevSecure(stdout, sec)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	return <-done
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("serve", stderr)
	cfg.RegisterFlags(fs)
	if err := Load(&cfg, fs, args, nil); err != nil {
		return err
	}
	a, err := startProcess(ctx, cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// startProcess builds the node of a strata process: the one place where
// settings of the whole process are made (the Go runtime's soft memory
// limit), so that New leaves the process alone and several nodes can
// share one, as tests do.
func startProcess(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := NewLogger(cfg)
	roles, err := cluster.ParseRoles(cfg.Roles)
	if err != nil {
		return nil, err
	}
	if limit := setMemoryLimit(cfg, roles); limit > 0 {
		logger.Info("soft memory limit", "bytes", limit, "budgets", memoryBudgets(cfg, roles))
	}
	return New(ctx, cfg, logger)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("migrate", stderr)
	cfg.RegisterFlags(fs)
	if err := Load(&cfg, fs, args, nil); err != nil {
		return err
	}
	if cfg.Postgres.URL == "" {
		return errors.New("metastore.postgres.url (STRATA_METASTORE_POSTGRES_URL) is required")
	}
	if err := postgres.Migrate(ctx, cfg.Postgres.URL, NewLogger(cfg)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// consoleLine is the banner's line for the web console, empty when off.
func consoleLine(a *App) string {
	if !a.ConsoleEnabled() {
		return ""
	}
	return fmt.Sprintf("  Web console:            http://%s/ui/\n", addrString(a.AdminAddr()))
}
