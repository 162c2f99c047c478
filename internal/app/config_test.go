package app

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c, _, err := loadFlags(t, args, env)
	return *c, err
}

// loadFlags is load that also returns the flag set, whose values are the
// loaded configuration's.
func loadFlags(t *testing.T, args []string, env map[string]string) (*Config, *flag.FlagSet, error) {
	t.Helper()
	c := new(Config)
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	restore := setEnv(t, env)
	defer restore()
	err := Load(c, fs, args, nil)
	return c, fs, err
}

// setEnv sets the process environment, which Load reads, and returns what
// puts it back. Unlike t.Setenv it can be undone within a test, between the
// sources of one setting.
func setEnv(t *testing.T, env map[string]string) (restore func()) {
	t.Helper()
	var undo []func()
	for k, v := range env {
		if old, had := os.LookupEnv(k); had {
			undo = append(undo, func() { os.Setenv(k, old) })
		} else {
			undo = append(undo, func() { os.Unsetenv(k) })
		}
		if err := os.Setenv(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, u := range undo {
			u()
		}
	}
}

func TestLoadPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	yaml := "kafka:\n  node-id: 7\n  rack: zone-a\ningest:\n  flush-interval: 100ms\nobjstore.url: s3://from-file\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := load(t,
		[]string{"-config.file", file, "-kafka.rack", "zone-c"},
		map[string]string{"STRATA_INGEST_FLUSH_INTERVAL": "50ms", "STRATA_KAFKA_RACK": "zone-b"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.NodeID != 7 {
		t.Errorf("node id from file: %d", c.Kafka.NodeID)
	}
	if c.Objects.URL != "s3://from-file" {
		t.Errorf("objects url from file: %q", c.Objects.URL)
	}
	if c.Ingest.FlushInterval != 50*time.Millisecond {
		t.Errorf("environment should override the file: flush interval %v", c.Ingest.FlushInterval)
	}
	if c.Kafka.Rack != "zone-c" {
		t.Errorf("flags should override the environment: rack %q", c.Kafka.Rack)
	}
	// Defaults stay where nothing overrides them.
	if c.Ingest.SegmentMaxBytes != 8<<20 || c.Kafka.DefaultPartitions != 3 {
		t.Errorf("defaults lost: segment %d partitions %d", c.Ingest.SegmentMaxBytes, c.Kafka.DefaultPartitions)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := load(t, []string{"-no-such-flag"}, nil); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, err := load(t, nil, map[string]string{"STRATA_INGEST_FLUSH_INTERVAL": "soon"}); err == nil ||
		!strings.Contains(err.Error(), "STRATA_INGEST_FLUSH_INTERVAL") {
		t.Errorf("bad environment value: %v", err)
	}
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("kafka:\n  listen-address: :9092\n  node_id: 1\n"), 0o644)
	if _, err := load(t, []string{"-config.file", file}, nil); err == nil ||
		!strings.Contains(err.Error(), `line 3: "kafka.node_id" is not a setting`) ||
		!strings.Contains(err.Error(), "kafka.node-id") {
		t.Errorf("unknown YAML key: %v; want its line and the valid keys of kafka", err)
	}
	os.WriteFile(file, []byte("kafak:\n  node-id: 1\n"), 0o644)
	if _, err := load(t, []string{"-config.file", file}, nil); err == nil ||
		!strings.Contains(err.Error(), "valid sections:") || !strings.Contains(err.Error(), "kafka,") {
		t.Errorf("unknown YAML section: %v; want the list of sections", err)
	}
	os.WriteFile(file, []byte("kafka:\n  node-id: seven\n"), 0o644)
	if _, err := load(t, []string{"-config.file", file}, nil); err == nil || !strings.Contains(err.Error(), "kafka.node-id") {
		t.Errorf("bad YAML value: %v; want the key named", err)
	}
	if _, err := load(t, []string{"-config.file", filepath.Join(t.TempDir(), "missing.yaml")}, nil); err == nil {
		t.Error("missing config file accepted")
	}
}

func TestValidateNeedsObjectStore(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "objstore.url") {
		t.Fatalf("Validate without an object store: %v", err)
	}
	DevDefaults(&c, t.TempDir())
	if err := c.Validate(); err != nil {
		t.Fatalf("dev defaults do not validate: %v", err)
	}
}

// TestEverySettingHasOneName: for every flag, the command line, the
// STRATA_* variable and the YAML key of the same name set the same field.
func TestEverySettingHasOneName(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		// The value each source sets: the default would prove nothing,
		// so take another valid one.
		value, ok := otherValue(f)
		if strings.HasSuffix(f.Name, "-file") {
			// A file setting is read by Load: give it a file.
			value = filepath.Join(t.TempDir(), "setting")
			if err := os.WriteFile(value, []byte("from-a-file\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if !ok {
			t.Errorf("-%s: no other value known for a %T; extend otherValue", f.Name, f.Value)
			return
		}
		n++
		file := filepath.Join(t.TempDir(), "strata.yaml")
		if err := os.WriteFile(file, []byte(f.Name+": '"+value+"'\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var got [3]string
		for i, src := range []struct {
			args []string
			env  map[string]string
		}{
			{[]string{"-" + f.Name + "=" + value}, nil},
			{nil, map[string]string{EnvName(f.Name): value}},
			{[]string{"-config.file", file}, nil},
		} {
			_, fs, err := loadFlags(t, src.args, src.env)
			if err != nil {
				t.Errorf("%s from source %d: %v", f.Name, i, err)
				return
			}
			got[i] = fs.Lookup(f.Name).Value.String()
		}
		want := got[0]
		if want == f.DefValue {
			t.Errorf("-%s %s left the default %q", f.Name, value, f.DefValue)
		}
		if got[1] != want {
			t.Errorf("%s: environment sets %q, the flag %q", f.Name, got[1], want)
		}
		if got[2] != want {
			t.Errorf("%s: YAML sets %q, the flag %q", f.Name, got[2], want)
		}
	})
	if n < 50 {
		t.Fatalf("checked %d settings; the configuration has more", n)
	}
}

// otherValue returns a valid value of f that is not its default.
func otherValue(f *flag.Flag) (string, bool) {
	def := f.DefValue
	switch {
	case def == "true":
		return "false", true
	case def == "false":
		return "true", true
	}
	if _, err := strconv.ParseInt(def, 10, 64); err == nil {
		return "7", true
	}
	if _, err := time.ParseDuration(def); err == nil {
		return "1h2m3s", true
	}
	if _, err := strconv.ParseFloat(def, 64); err == nil {
		return "0.25", true
	}
	if v, ok := knownStrings[f.Name]; ok {
		return v, true
	}
	// Any text: Load does not validate, it sets.
	return "other-" + strings.ReplaceAll(f.Name, ".", "-"), true
}

// knownStrings are other values of settings whose text must parse.
var knownStrings = map[string]string{
	"log.format": "json",
	"log.level":  "debug",
	"roles":      "ingest,reader",
	// unset by default: neither true nor false
	"auth.allow-everyone-if-no-acl-found": "false",
}

func TestEnvName(t *testing.T) {
	if got := EnvName("metastore.postgres.url"); got != "STRATA_METASTORE_POSTGRES_URL" {
		t.Fatal(got)
	}
	if got := EnvName("kafka.listen-address"); got != "STRATA_KAFKA_LISTEN_ADDRESS" {
		t.Fatal(got)
	}
}

// TestLoadKafkaLimits: the front door's limits load from the file, the
// environment and the flags like every setting, and a budget too small for
// the largest request is refused.
func TestLoadKafkaLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	yaml := "kafka:\n  max-connections: 500\n  max-connections-per-ip: 20\n  request-read-timeout: 5s\n" +
		"  max-metadata-lookups: 10\n  max-auto-create-topics: 2\n  max-topics-per-request: 50\nobjstore:\n  url: s3://bucket\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, []string{"-config.file", file, "-kafka.max-connections-per-ip", "30"},
		map[string]string{"STRATA_KAFKA_MAX_QUEUED_REQUEST_BYTES": "536870912"})
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kafka
	if k.MaxConnections != 500 || k.MaxConnectionsPerIP != 30 || k.MaxQueuedRequestBytes != 512<<20 ||
		k.RequestReadTimeout != 5*time.Second || k.MaxMetadataLookups != 10 || k.MaxAutoCreateTopics != 2 || k.MaxTopicsPerRequest != 50 {
		t.Fatalf("limits loaded as %+v", k)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid limits refused: %v", err)
	}
	c, err = load(t, []string{"-objstore.url", "s3://bucket", "-kafka.max-queued-request-bytes", "1048576"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max queued request bytes") {
		t.Fatalf("a budget smaller than one full-size request: %v", err)
	}
}

// TestValidateChecksEverySection: the whole configuration is checked
// before anything starts. The groups, compactor and object store sections
// were left to their roles, which found a bad value only once the node was
// half up, or never on a node without the role.
func TestValidateChecksEverySection(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"groups":    {[]string{"-groups.max-group-size", "-1"}, "max-group-size"},
		"compactor": {[]string{"-compactor.min-cleanable-dirty-ratio", "2"}, "dirty ratio"},
		"objects":   {[]string{"-objstore.url", "s3://"}, "bucket"},
	} {
		c, err := load(t, tc.args, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tc.args[0] != "-objstore.url" {
			DevDefaults(&c, t.TempDir())
		}
		// A node without the role is checked too.
		c.Roles = "ingest,reader"
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error naming %q", name, err, tc.want)
		}
	}
}
