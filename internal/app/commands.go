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

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/internal/bench"
	"github.com/stratalog/strata/internal/cli"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/version"
	"github.com/stratalog/strata/metastore/postgres"
)

// intro is the text of `strata -h` above its commands.
const intro = `strata: a Kafka-compatible log service on object storage.

strata dev runs every role in one process with embedded defaults: Kafka on
127.0.0.1:9092, admin HTTP on 127.0.0.1:9644, objects in ./.strata/objects,
metadata in ./.strata/meta.db. strata serve runs a node against PostgreSQL
and S3; each of its flags can also be set as STRATA_<FLAG> or as a key of
the -config.file YAML. The other commands use any Kafka-compatible cluster
(--brokers, or $STRATA_BROKERS, else 127.0.0.1:9092).`

// Main runs the strata command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Main(ctx, args, stdout, stderr, cli.Program{
		Intro:   intro,
		Version: version.Get().String(),
		Commands: []*cobra.Command{
			devCommand(ctx, stdout),
			serveCommand(ctx),
			migrateCommand(ctx, stdout),
			benchCommand(ctx, stdout, stderr),
			versionCommand(stdout),
		},
	})
}

// serverCommand is a command whose flags are those of a flag.FlagSet,
// registered by the packages they configure and loaded by Load: its flag
// set parses its arguments, and cobra shows the flags in its help and
// completes them.
func serverCommand(cmd *cobra.Command, fs *flag.FlagSet, run func(args []string) error) *cobra.Command {
	cmd.DisableFlagParsing = true
	cmd.DisableFlagsInUseLine = true
	cmd.Flags().AddGoFlagSet(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		err := run(args)
		if errors.Is(err, flag.ErrHelp) {
			return cmd.Help()
		}
		return err
	}
	// Parsing is the flag set's; cobra still completes the flags.
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	return cmd
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	// Mistakes are reported once, by the command line; -h is cobra's help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// devFlags are the settings of strata dev: those of serve with dev's
// defaults, which -h shows, and -data-dir and -secure.
type devFlags struct {
	cfg     Config
	fs      *flag.FlagSet
	dataDir string
	secure  bool
}

func newDevFlags() *devFlags {
	d := &devFlags{fs: newFlagSet("dev"), dataDir: ".strata"}
	d.cfg.RegisterFlags(d.fs)
	d.fs.StringVar(&d.dataDir, "data-dir", d.dataDir, "directory of the objects and the SQLite metastore")
	d.fs.BoolVar(&d.secure, "secure", false, "also serve a SASL_SSL listener on "+DevSecureAddress+" (or the SASL_SSL listener of -kafka.listeners), with a throwaway CA and certificate under DATA-DIR/tls and a user "+DevAdminUser+" whose password is in DATA-DIR/admin-password")
	RegisterConfigFileFlag(d.fs)
	// -h shows the defaults dev runs with, not those of serve.
	DevDefaults(&d.cfg, d.dataDir)
	d.fs.VisitAll(func(f *flag.Flag) { f.DefValue = f.Value.String() })
	return d
}

// load loads the settings from args, the environment and the file; the
// dev defaults go under all three, with the -data-dir these give.
func (d *devFlags) load(args []string) error {
	return Load(&d.cfg, d.fs, args, func() { DevDefaults(&d.cfg, d.dataDir) })
}

func devCommand(ctx context.Context, stdout io.Writer) *cobra.Command {
	d := newDevFlags()
	return serverCommand(&cobra.Command{
		Use:   "dev [flags]",
		Short: "run every role in one process with embedded defaults",
		Long: `Run every role in one process: Kafka on 127.0.0.1:9092, admin HTTP on
127.0.0.1:9644, objects and the SQLite metastore in --data-dir. It needs no
other program, and its data survives restarts.`,
		Example: `  strata dev
  strata dev --kafka.listen-address 127.0.0.1:19092 --data-dir /tmp/strata
  STRATA_DATA_DIR=/tmp/strata strata dev --secure`,
	}, d.fs, func(args []string) error {
		return runDev(ctx, d, args, stdout)
	})
}

func serveCommand(ctx context.Context) *cobra.Command {
	var cfg Config
	fs := newFlagSet("serve")
	cfg.RegisterFlags(fs)
	RegisterConfigFileFlag(fs)
	return serverCommand(&cobra.Command{
		Use:   "serve [flags]",
		Short: "run a node against PostgreSQL and S3",
		Long: `Run a node with the roles of --roles against a PostgreSQL metastore and an
S3 bucket. Every flag is also the variable STRATA_<FLAG> (dots and dashes as
underscores) and a key of the --config.file YAML, flat or nested.`,
		Example: `  strata serve --metastore.postgres.url postgres://strata@db/strata --objstore.url s3://bucket
  STRATA_ROLES=ingest,reader strata serve --config.file /etc/strata.yaml`,
	}, fs, func(args []string) error {
		if err := Load(&cfg, fs, args, nil); err != nil {
			return err
		}
		a, err := startProcess(ctx, cfg)
		if err != nil {
			return err
		}
		return a.Run(ctx)
	})
}

func migrateCommand(ctx context.Context, stdout io.Writer) *cobra.Command {
	var cfg Config
	fs := newFlagSet("migrate")
	cfg.RegisterFlags(fs)
	RegisterConfigFileFlag(fs)
	return serverCommand(&cobra.Command{
		Use:     "migrate [flags]",
		Short:   "apply the PostgreSQL metastore migrations and exit",
		Example: `  strata migrate --metastore.postgres.url postgres://strata@db/strata`,
	}, fs, func(args []string) error {
		return runMigrate(ctx, &cfg, fs, args, stdout)
	})
}

func benchCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "bench produce|consume|e2e|sync [flags]",
		Short: "load test with a latency summary",
		Example: `  strata bench produce --records 1000000 --record-size 1024
  strata bench e2e --duration 30s --hist latency.hlog --plot run.png`,
		// strata bench parses its own flags, per mode.
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		ValidArgs:             bench.Modes(),
		RunE: func(_ *cobra.Command, args []string) error {
			if code := bench.Main(ctx, args, stdout, stderr); code != 0 {
				return cli.ExitCode(code)
			}
			return nil
		},
	}
}

func versionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "the release and commit of this build",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, version.Get()) },
	}
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

func runDev(ctx context.Context, d *devFlags, args []string, stdout io.Writer) error {
	if err := d.load(args); err != nil {
		return err
	}
	cfg, dataDir := &d.cfg, d.dataDir
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	var sec *devSecure
	if d.secure {
		var err error
		if sec, err = setUpDevSecure(cfg, dataDir); err != nil {
			return err
		}
	}
	a, err := startProcess(ctx, *cfg)
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

func runMigrate(ctx context.Context, cfg *Config, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := Load(cfg, fs, args, nil); err != nil {
		return err
	}
	if cfg.Postgres.URL == "" {
		return errors.New("metastore.postgres.url (STRATA_METASTORE_POSTGRES_URL) is required")
	}
	if err := postgres.Migrate(ctx, cfg.Postgres.URL, NewLogger(*cfg)); err != nil {
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
