package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stratalog/strata/compactor"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/groups"
	"github.com/stratalog/strata/internal/kafka"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/metastore/postgres"
	"github.com/stratalog/strata/metastore/sqlite"
	"github.com/stratalog/strata/reader"
)

// Config is the whole configuration of one strata process. Each part is
// owned by its package; this struct only gathers them.
type Config struct {
	Kafka     kafka.Config     `yaml:"kafka"`
	Ingest    ingest.Config    `yaml:"ingest"`
	Reader    reader.Config    `yaml:"reader"`
	Objects   objstore.Config  `yaml:"objects"`
	Postgres  postgres.Config  `yaml:"postgres"`
	SQLite    sqlite.Config    `yaml:"sqlite"`
	Cluster   cluster.Config   `yaml:"cluster"`
	Groups    groups.Config    `yaml:"groups"`
	Compactor compactor.Config `yaml:"compactor"`

	// Roles is the comma-separated list of roles this node runs: ingest,
	// reader, coordinator, compactor, controller, or all.
	Roles string `yaml:"roles"`

	// AdminAddress is the host:port of the admin HTTP listener (/metrics,
	// /healthz, /readyz, /debug/pprof). Empty disables it.
	AdminAddress string `yaml:"admin_address"`
	// AdminTokenFile names a file holding the bearer token every admin
	// request needs but /healthz, /readyz and, with AdminMetricsPublic,
	// /metrics. Empty leaves the admin listener open, as strata dev has it.
	AdminTokenFile     string `yaml:"admin_token_file"`
	AdminMetricsPublic bool   `yaml:"admin_metrics_public"`
	// AdminTLSCertFile and AdminTLSKeyFile, both set, make the admin
	// listener serve HTTPS.
	AdminTLSCertFile string `yaml:"admin_tls_cert_file"`
	AdminTLSKeyFile  string `yaml:"admin_tls_key_file"`
	LogLevel         string `yaml:"log_level"`
	LogFormat        string `yaml:"log_format"`

	// MemoryOverhead is the memory allowed beyond the budgets (Kafka
	// requests, ingest, reader cache, compactor) before the Go garbage collector
	// works harder: the soft memory limit is their sum plus this, less
	// 64 MiB kept for the executable's own pages, which count in RSS but
	// not in the Go runtime's memory. 0 leaves Go's default; GOMEMLIMIT
	// overrides it.
	MemoryOverhead int64 `yaml:"memory_overhead"`
}

// RegisterFlags registers every flag of the process with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs)
	c.Ingest.RegisterFlags(fs)
	c.Reader.RegisterFlags(fs)
	c.Objects.RegisterFlags(fs, "objstore.")
	c.Postgres.RegisterFlags(fs)
	c.SQLite.RegisterFlags(fs)
	c.Cluster.RegisterFlags(fs)
	c.Groups.RegisterFlags(fs)
	c.Compactor.RegisterFlags(fs)
	fs.StringVar(&c.Roles, "roles", "all", "roles of this node: all, or a comma-separated list of ingest, reader, coordinator, compactor, controller")
	fs.StringVar(&c.AdminAddress, "admin.listen-address", ":9644", "host:port of the admin HTTP listener (metrics, health, pprof); empty disables it")
	fs.StringVar(&c.AdminTokenFile, "admin.token-file", "", "file holding the bearer token the admin listener requires for all but /healthz, /readyz (and /metrics with admin.metrics-public); empty: no token")
	fs.BoolVar(&c.AdminMetricsPublic, "admin.metrics-public", false, "serve /metrics without the admin token")
	fs.StringVar(&c.AdminTLSCertFile, "admin.tls.cert-file", "", "PEM certificate of the admin listener; with admin.tls.key-file it serves HTTPS")
	fs.StringVar(&c.AdminTLSKeyFile, "admin.tls.key-file", "", "PEM private key of the admin listener's certificate")
	fs.StringVar(&c.LogLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log.format", "text", "log format: text or json")
	fs.Int64Var(&c.MemoryOverhead, "memory.overhead", 512<<20, "bytes of RSS beyond the roles' memory budgets before the garbage collector works harder (soft limit = budgets + this - 64 MiB for the executable); 0: Go's default")
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if err := c.Ingest.Validate(); err != nil {
		return err
	}
	if err := c.Reader.Validate(); err != nil {
		return err
	}
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	// Every section is checked, whatever roles this node runs: a bad
	// value is found before anything starts.
	if err := c.Groups.Validate(); err != nil {
		return err
	}
	if err := c.Compactor.Validate(); err != nil {
		return err
	}
	roles, err := cluster.ParseRoles(c.Roles)
	if err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	if roles.Has(cluster.RoleIngest | cluster.RoleCompactor) {
		if err := checkOrphanBounds(c.Ingest, c.Compactor); err != nil {
			return err
		}
	}
	if c.Objects.URL == "" {
		return errors.New("objstore.url: required (s3://bucket or a directory)")
	}
	if err := c.Objects.Validate(); err != nil {
		return err
	}
	if c.Postgres.URL != "" {
		if err := c.Postgres.Validate(); err != nil {
			return err
		}
	} else if err := c.SQLite.Validate(); err != nil {
		return err
	}
	if (c.AdminTLSCertFile == "") != (c.AdminTLSKeyFile == "") {
		return errors.New("admin.tls.cert-file and admin.tls.key-file: set both or neither")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q, want text or json", c.LogFormat)
	}
	return nil
}

// checkOrphanBounds checks, for a process that runs both roles, that the
// compactor leaves an upload time to be committed: an upload may wait up to
// ingest.max-commit-delay (at least its upload timeout) for its commit,
// which takes up to ingest.commit-timeout. An orphan grace shorter than
// that makes the compactor claim objects whose commit is on its way (the
// produce fails and is retried); a tombstone retention shorter than that
// would let a late commit reference a deleted object.
func checkOrphanBounds(in ingest.Config, co compactor.Config) error {
	longest := in.MaxCommitDelay + in.CommitTimeout
	if co.OrphanGrace <= longest {
		return fmt.Errorf("compactor.orphan-grace (%s) must be longer than ingest.max-commit-delay plus ingest.commit-timeout (%s)", co.OrphanGrace, longest)
	}
	// The tombstone retention is longer still: the compactor's own
	// Validate wants it longer than the grace.
	return nil
}

// EnvName is the environment variable that sets a flag: STRATA_ then the
// flag name in upper case with dots and dashes as underscores
// (kafka.listen-address → STRATA_KAFKA_LISTEN_ADDRESS).
func EnvName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "STRATA_" + strings.ToUpper(r.Replace(flagName))
}

// Load fills c from, in increasing precedence: the flag defaults already
// registered on fs, the YAML file named by -config.file (or STRATA_CONFIG_FILE),
// STRATA_* environment variables, and the command-line flags in args.
// defaults, when not nil, runs after a first parse of args and may change
// defaults that depend on flags (strata dev's -data-dir).
func Load(c *Config, fs *flag.FlagSet, args []string, getenv func(string) string, defaults func()) error {
	var file string
	fs.StringVar(&file, "config.file", "", "optional YAML configuration file")
	// First pass: only to learn -config.file and what defaults needs.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if defaults != nil {
		defaults()
	}
	if file == "" {
		file = getenv("STRATA_CONFIG_FILE")
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("config file %s: %w", file, err)
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", EnvName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	// Second pass: command-line flags win over the file and the environment.
	if err := fs.Parse(args); err != nil {
		return err
	}
	return c.ReadSecretFiles()
}

// ReadSecretFiles replaces each secret that has a file setting by the
// file's content (without the trailing newline). A secret kept in a file
// or in the environment never shows in the process's command line.
func (c *Config) ReadSecretFiles() error {
	for _, s := range []struct {
		flag, file string
		value      *string
	}{
		{"objstore.secret-access-key-file", c.Objects.SecretAccessKeyFile, &c.Objects.SecretAccessKey},
		{"metastore.postgres.url-file", c.Postgres.URLFile, &c.Postgres.URL},
	} {
		if s.file == "" {
			continue
		}
		v, err := readSecretFile(s.file)
		if err != nil {
			return fmt.Errorf("%s: %w", s.flag, err)
		}
		*s.value = v
	}
	return nil
}

// readSecretFile reads a one-line secret. The error names the file, never
// its content.
func readSecretFile(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return v, nil
}
