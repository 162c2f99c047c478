package app

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	err := Load(&c, fs, args, func(k string) string { return env[k] }, nil)
	return c, err
}

func TestLoadPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	yaml := "kafka:\n  node_id: 7\n  rack: zone-a\ningest:\n  flush_interval: 100ms\nobjects:\n  url: s3://from-file\n"
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
	os.WriteFile(file, []byte("kafka:\n  no_such_key: 1\n"), 0o644)
	if _, err := load(t, []string{"-config.file", file}, nil); err == nil {
		t.Error("unknown YAML key accepted")
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
	yaml := "kafka:\n  max_connections: 500\n  max_connections_per_ip: 20\n  request_read_timeout: 5s\n" +
		"  max_metadata_lookups: 10\n  max_auto_create_topics: 2\n  max_topics_per_request: 50\nobjects:\n  url: s3://bucket\n"
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
