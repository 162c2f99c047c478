package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/peterbourgon/ff/v3"
	"gopkg.in/yaml.v3"

	"github.com/stratalog/strata/compactor"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/console"
	"github.com/stratalog/strata/internal/cost"
	"github.com/stratalog/strata/internal/groups"
	"github.com/stratalog/strata/internal/kafka"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/txn"
	"github.com/stratalog/strata/metastore/postgres"
	"github.com/stratalog/strata/metastore/sqlite"
	"github.com/stratalog/strata/reader"
)

// Config is the whole configuration of one strata process. Each part is
// owned by its package; this struct only gathers them.
type Config struct {
	Kafka     kafka.Config
	Ingest    ingest.Config
	Reader    reader.Config
	Objects   objstore.Config
	Postgres  postgres.Config
	SQLite    sqlite.Config
	Cluster   cluster.Config
	Groups    groups.Config
	Txn       txn.Config
	Compactor compactor.Config
	Console   console.Config
	Cost      cost.Config
	// BootstrapUser is the SCRAM user a node creates at start when it has
	// no credential (bootstrap_user.go).
	BootstrapUser BootstrapUserConfig

	// Roles is the comma-separated list of roles this node runs: ingest,
	// reader, coordinator, compactor, controller, or all.
	Roles string

	// AdminAddress is the host:port of the admin HTTP listener (/metrics,
	// /healthz, /readyz, /debug/pprof). Empty disables it.
	AdminAddress string
	// AdminTokenFile names a file holding the bearer token every admin
	// request needs but /healthz, /readyz and, with AdminMetricsPublic,
	// /metrics. Empty leaves the admin listener open, as strata dev has it.
	AdminTokenFile     string
	AdminMetricsPublic bool
	// AdminTLSCertFile and AdminTLSKeyFile, both set, make the admin
	// listener serve HTTPS.
	AdminTLSCertFile string
	AdminTLSKeyFile  string
	LogLevel         string
	LogFormat        string

	// MemoryOverhead is the memory allowed beyond the budgets (Kafka
	// requests, ingest, reader cache, compactor) before the Go garbage collector
	// works harder: the soft memory limit is their sum plus this, less
	// 64 MiB kept for the executable's own pages, which count in RSS but
	// not in the Go runtime's memory. 0 leaves Go's default; GOMEMLIMIT
	// overrides it.
	MemoryOverhead int64
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
	c.Txn.RegisterFlags(fs)
	c.Compactor.RegisterFlags(fs)
	c.Console.RegisterFlags(fs)
	c.Cost.RegisterFlags(fs)
	c.BootstrapUser.registerFlags(fs)
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
	if err := c.Txn.Validate(); err != nil {
		return err
	}
	if err := c.Compactor.Validate(); err != nil {
		return err
	}
	if err := c.Console.Validate(); err != nil {
		return err
	}
	if err := c.Cost.Validate(); err != nil {
		return err
	}
	if prices, err := cost.ParsePrices(c.Console.Prices); err == nil {
		if _, err := prices.PutRate(c.Cost.MonthlyPutBudget); err != nil {
			return err
		}
	}
	if err := c.BootstrapUser.validate(); err != nil {
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
// registered on fs, the YAML file named by -config.file (or
// STRATA_CONFIG_FILE), STRATA_* environment variables, and the
// command-line flags in args. The three sources use the same names, those
// of the flags: kafka.listen-address is the flag -kafka.listen-address, the
// variable STRATA_KAFKA_LISTEN_ADDRESS, and the YAML key
// kafka.listen-address, written flat or nested (kafka: {listen-address: ...}).
// A YAML key that names no flag is an error that lists the valid ones.
// The flag set is the one definition: ff reads the three sources into it,
// and yamlParser only turns the file into flag names and values.
//
// defaults, when not nil, changes defaults that depend on other settings
// (strata dev's -data-dir): it runs once those settings have their final
// values, and whatever the file, the environment or the flags set still
// wins over what it changed.
func Load(c *Config, fs *flag.FlagSet, args []string, defaults func()) error {
	if fs.Lookup("config.file") == nil {
		RegisterConfigFileFlag(fs)
	}
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix("STRATA"),
		ff.WithConfigFileFlag("config.file"),
		ff.WithConfigFileParser(yamlParser(fs)))
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return loadError(err)
	}
	if defaults != nil {
		// Every flag a source set keeps its value over what defaults
		// changes.
		set := map[string]string{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
		defaults()
		for name, v := range set {
			if fs.Lookup(name).Value.String() == v {
				continue
			}
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return c.ReadSecretFiles()
}

// RegisterConfigFileFlag registers -config.file, which Load registers
// itself when it is not yet there: a command registers it first to show
// it in its help.
func RegisterConfigFileFlag(fs *flag.FlagSet) {
	fs.String("config.file", "", "optional YAML configuration file; its keys are the flag names")
}

// loadError drops ff's "error parsing ..." prefixes, which say less than
// the messages under them.
func loadError(err error) error {
	msg := err.Error()
	for _, p := range []string{"error parsing commandline arguments: ", "error parsing environment variables: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return errors.New(msg)
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
		{"auth.bootstrap-password-file", c.BootstrapUser.PasswordFile, &c.BootstrapUser.Password},
		{"console.password-file", c.Console.Client.PasswordFile, &c.Console.Client.Password},
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

// yamlParser reads a YAML configuration file into flag settings for ff:
// nested mappings join their keys with dots, a list becomes its items
// joined with commas, an empty value keeps the default, and every key must
// name a flag of fs. Unlike ff's own YAML parser, its errors give the line
// of a bad key and the valid keys near it.
func yamlParser(fs *flag.FlagSet) ff.ConfigFileParser {
	return func(r io.Reader, set func(name, value string) error) error {
		file := fs.Lookup("config.file").Value.String()
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		if len(doc.Content) == 0 {
			return nil // empty file
		}
		setAt := func(n *yaml.Node, name, value string) error {
			if err := set(name, value); err != nil {
				if inner := errors.Unwrap(err); inner != nil {
					err = inner // without ff's wording
				}
				return fmt.Errorf("config file %s, line %d: %s: %w", file, n.Line, name, err)
			}
			return nil
		}
		var walk func(prefix string, n *yaml.Node) error
		walk = func(prefix string, n *yaml.Node) error {
			switch n.Kind {
			case yaml.MappingNode:
				for i := 0; i+1 < len(n.Content); i += 2 {
					k := n.Content[i].Value
					if prefix != "" {
						k = prefix + "." + k
					}
					if err := walk(k, n.Content[i+1]); err != nil {
						return err
					}
				}
				return nil
			case yaml.AliasNode:
				return walk(prefix, n.Alias)
			}
			if prefix == "" {
				return fmt.Errorf("config file %s: want a mapping of flag names to values", file)
			}
			if fs.Lookup(prefix) == nil || prefix == "config.file" {
				return fmt.Errorf("config file %s, line %d: %q is not a setting; %s", file, n.Line, prefix, validKeys(fs, prefix))
			}
			switch n.Kind {
			case yaml.SequenceNode:
				items := make([]string, 0, len(n.Content))
				for _, item := range n.Content {
					if item.Kind != yaml.ScalarNode {
						return fmt.Errorf("config file %s, line %d: %s: want a list of values", file, item.Line, prefix)
					}
					items = append(items, item.Value)
				}
				return setAt(n, prefix, strings.Join(items, ","))
			case yaml.ScalarNode:
				if n.Tag == "!!null" {
					return nil // key: (nothing) keeps the default
				}
				return setAt(n, prefix, n.Value)
			}
			return fmt.Errorf("config file %s, line %d: %s: want a value", file, n.Line, prefix)
		}
		return walk("", doc.Content[0])
	}
}

// validKeys names the settings near an unknown key: those of its section
// (the part before the first dot), or else the sections.
func validKeys(fs *flag.FlagSet, key string) string {
	section, _, _ := strings.Cut(key, ".")
	var same []string
	sections := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config.file" {
			return
		}
		sec, _, _ := strings.Cut(f.Name, ".")
		sections[sec] = true
		if sec == section {
			same = append(same, f.Name)
		}
	})
	if len(same) > 0 {
		sort.Strings(same)
		return "valid keys of " + section + ": " + strings.Join(same, ", ")
	}
	names := make([]string, 0, len(sections))
	for sec := range sections {
		names = append(names, sec)
	}
	sort.Strings(names)
	return "valid sections: " + strings.Join(names, ", ") + " (the keys are the flags of `strata serve -h`)"
}
