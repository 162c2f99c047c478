package tfcheck

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/stratalog/strata/internal/app"
)

// serveEnvNames returns the STRATA_* variable of every flag of strata serve.
func serveEnvNames(t testing.TB) map[string]bool {
	t.Helper()
	var cfg app.Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[app.EnvName(f.Name)] = true })
	return names
}

var envName = regexp.MustCompile(`\bSTRATA_[A-Z0-9_]+\b`)

// Every STRATA_* variable that the deployment sets or its documentation
// names must be one that strata serve reads: a misspelt name would be
// ignored silently.
func TestEnvironmentNamesAreServeFlags(t *testing.T) {
	valid := serveEnvNames(t)
	valid["STRATA_CONFIG_FILE"] = true // read by the loader, not a flag
	files := []string{
		filepath.Join("..", "..", "..", "Dockerfile"),
		filepath.Join("..", "..", "..", "docs", "deploy.md"),
	}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".tf") || strings.HasSuffix(path, ".hcl") || strings.HasSuffix(path, ".example")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inTerraform := map[string]bool{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range envName.FindAllString(string(data), -1) {
			if strings.HasPrefix(name, "STRATA_TEST_") {
				continue // test settings, not strata's
			}
			if !valid[name] {
				t.Errorf("%s: %s is not a variable strata serve reads", path, name)
			}
			if strings.HasSuffix(path, ".tf") {
				inTerraform[name] = true
			}
		}
	}
	for _, name := range []string{
		"STRATA_METASTORE_POSTGRES_URL", "STRATA_OBJSTORE_URL", "STRATA_OBJSTORE_REGION",
		"STRATA_KAFKA_LISTEN_ADDRESS", "STRATA_KAFKA_ADVERTISED_ADDRESS", "STRATA_KAFKA_NODE_ID",
		"STRATA_KAFKA_RACK", "STRATA_ADMIN_LISTEN_ADDRESS",
	} {
		if !inTerraform[name] {
			t.Errorf("the Terraform code never sets %s", name)
		}
	}
}

// The environment the layout gives a node, with the values the AWS module
// adds, is accepted by strata serve's configuration loader and means what
// the layout says.
func TestLayoutEnvironmentLoadsIntoServeConfig(t *testing.T) {
	const host = "strata-kafka-0123456789abcdef.elb.eu-west-1.amazonaws.com"
	out := layoutOutputs(t, map[string]string{
		"name":            "strata",
		"zones":           `["eu-west-1a","eu-west-1b","eu-west-1c"]`,
		"node_count":      "4",
		"first_node_id":   "10",
		"advertised_host": host,
	})
	var common map[string]string
	var perNode map[string]map[string]string
	if err := json.Unmarshal(out["common_environment"], &common); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out["node_environment"], &perNode); err != nil {
		t.Fatal(err)
	}
	if len(perNode) != 4 {
		t.Fatalf("want 4 nodes, got %v", perNode)
	}

	// What modules/strata adds; its defaults are read from its variables.
	aws, err := LoadModule(filepath.Join("..", "modules", "strata"))
	if err != nil {
		t.Fatal(err)
	}
	stringDefault := func(name string) string {
		v := aws.Variables[name].Default
		if v == cty.NilVal || v.Type() != cty.String {
			t.Fatalf("modules/strata variable %s has no constant string default", name)
		}
		return v.AsString()
	}
	moduleEnv := map[string]string{
		"STRATA_METASTORE_POSTGRES_URL": "postgres://strata@strata-metastore.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432/strata?sslmode=require",
		"STRATA_OBJSTORE_URL":           "s3://strata-segments-20250101",
		"STRATA_OBJSTORE_REGION":        "eu-west-1",
		"STRATA_INGEST_FLUSH_INTERVAL":  stringDefault("flush_interval"),
		"STRATA_LOG_LEVEL":              stringDefault("log_level"),
	}

	wantIDs := map[string]int32{"node-0": 10, "node-1": 11, "node-2": 12, "node-3": 13}
	wantZones := map[string]string{"node-0": "eu-west-1a", "node-1": "eu-west-1b", "node-2": "eu-west-1c", "node-3": "eu-west-1a"}
	wantAddrs := map[string]string{
		"node-0": "eu-west-1a." + host + ":9093",
		"node-1": "eu-west-1b." + host + ":9094",
		"node-2": "eu-west-1c." + host + ":9095",
		"node-3": "eu-west-1a." + host + ":9096",
	}
	nodes := make([]string, 0, len(perNode))
	for k := range perNode {
		nodes = append(nodes, k)
	}
	sort.Strings(nodes)
	for _, node := range nodes {
		env := map[string]string{}
		for _, m := range []map[string]string{common, moduleEnv, perNode[node]} {
			for k, v := range m {
				env[k] = v
			}
		}
		var cfg app.Config
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.RegisterFlags(fs)
		restore := setEnv(env)
		err := app.Load(&cfg, fs, nil, nil)
		restore()
		if err != nil {
			t.Fatalf("%s: strata serve refuses the environment: %v", node, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: invalid configuration: %v", node, err)
		}
		if cfg.Kafka.NodeID != wantIDs[node] || cfg.Kafka.Rack != wantZones[node] || cfg.Kafka.AdvertisedAddress != wantAddrs[node] {
			t.Errorf("%s: node id %d rack %q advertised %q; want %d %q %q", node,
				cfg.Kafka.NodeID, cfg.Kafka.Rack, cfg.Kafka.AdvertisedAddress, wantIDs[node], wantZones[node], wantAddrs[node])
		}
		if cfg.Kafka.ListenAddress != ":9092" || cfg.AdminAddress != ":9644" {
			t.Errorf("%s: listens on %q and %q, want :9092 and :9644", node, cfg.Kafka.ListenAddress, cfg.AdminAddress)
		}
		// 8 GiB task: 40% cache, 25% ingest budget, 80% at most together.
		if cfg.Reader.CacheBytes != 3435973836 || cfg.Ingest.MemoryBudget != 2147483648 {
			t.Errorf("%s: cache %d, ingest budget %d", node, cfg.Reader.CacheBytes, cfg.Ingest.MemoryBudget)
		}
		if cfg.Objects.URL != moduleEnv["STRATA_OBJSTORE_URL"] || cfg.Postgres.URL != moduleEnv["STRATA_METASTORE_POSTGRES_URL"] {
			t.Errorf("%s: stores %q %q", node, cfg.Objects.URL, cfg.Postgres.URL)
		}
		if cfg.LogFormat != "json" {
			t.Errorf("%s: log format %q, want json for CloudWatch", node, cfg.LogFormat)
		}
	}
	if !regexp.MustCompile(`^[0-9]+MiB$`).MatchString(common["GOMEMLIMIT"]) {
		t.Errorf("GOMEMLIMIT %q is not a size the Go runtime reads", common["GOMEMLIMIT"])
	}
}

// setEnv sets the process environment that strata serve reads and returns
// what puts it back.
func setEnv(env map[string]string) (restore func()) {
	var undo []func()
	for k, v := range env {
		if old, had := os.LookupEnv(k); had {
			undo = append(undo, func() { os.Setenv(k, old) })
		} else {
			undo = append(undo, func() { os.Unsetenv(k) })
		}
		os.Setenv(k, v)
	}
	return func() {
		for _, u := range undo {
			u()
		}
	}
}
