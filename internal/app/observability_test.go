package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// The dashboard and the alert rules that deploy/ ships.
var (
	dashboardFile = filepath.Join("deploy", "grafana", "strata-dashboard.json")
	rulesFile     = filepath.Join("deploy", "prometheus", "strata-rules.yml")
	rulesTestFile = filepath.Join("deploy", "prometheus", "strata-rules.test.yml")
)

// metricRef matches the metric names of Strata in a PromQL expression:
// exported names (strata_...) and recorded ones (strata:...).
var metricRef = regexp.MustCompile(`\bstrata[_:][a-z0-9_:]+`)

type dashboard struct {
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestDashboardAndRulesUseExportedMetrics checks that every metric the
// Grafana dashboard and the Prometheus rules name is one a node exports,
// so that renaming a metric cannot silently blank a panel or an alert,
// and that group lag, which the lag alert reads, shows on a live node.
func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	root := repoRoot(t)
	var dash dashboard
	readJSON(t, filepath.Join(root, dashboardFile), &dash)
	var rules ruleFile
	raw, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}

	recorded := map[string]bool{}
	exprs := map[string]string{} // where -> expression
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
				exprs["rule "+r.Record] = r.Expr
			} else {
				exprs["alert "+r.Alert] = r.Expr
			}
		}
	}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("dashboard: panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("dashboard: panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			exprs[fmt.Sprintf("panel %q query %d", p.Title, i)] = tg.Expr
		}
	}
	if len(exprs) < 40 {
		t.Fatalf("only %d expressions read from the dashboard and the rules", len(exprs))
	}

	// A panel may show what one metastore alone exports (PostgreSQL's
	// retries): the names of a dev and a serve node together are what the
	// dashboard may use.
	n := apptest.Start(t, apptest.Dev)
	exported := map[string]bool{}
	s3 := testenv.S3(t)
	serve := apptest.Start(t, apptest.Serve,
		"-metastore.postgres.url", testenv.PostgresURL(t),
		"-objstore.url", "s3://"+s3.Bucket, "-objstore.endpoint", s3.Endpoint, "-objstore.region", s3.Region,
		"-objstore.access-key-id", s3.AccessKeyID, "-objstore.secret-access-key", s3.SecretAccessKey,
		"-objstore.path-style")
	for _, node := range []*apptest.Node{n, serve} {
		for _, name := range node.App.MetricNames() {
			exported[name] = true
		}
	}
	for where, expr := range exprs {
		for _, ref := range metricRef.FindAllString(expr, -1) {
			if strings.Contains(ref, ":") {
				if !recorded[ref] {
					t.Errorf("%s: %s is recorded by no rule", where, ref)
				}
				continue
			}
			if !exported[ref] && !exported[histogramBase(ref)] {
				t.Errorf("%s: no node exports %s", where, ref)
			}
		}
	}

	// A group that committed offsets shows its lag, once the node holds
	// the controller lease.
	produceAndCommit(t, n.KafkaAddr, "observed", "watchers", 5, 3)
	var why error
	defer func() {
		if t.Failed() {
			t.Logf("last check of the lag: %v", why)
		}
	}()
	testenv.WaitFor(t, 30*time.Second, "group lag in /metrics", func() bool {
		why = lagOf(t, n.AdminAddr)
		return why == nil
	})
}

// lagOf checks the lag series of group watchers on topic observed.
func lagOf(t *testing.T, adminAddr string) error {
	{
		fams := scrape(t, "http://"+adminAddr+"/metrics")
		lag := fams["strata_groups_lag_records"]
		if lag == nil {
			return fmt.Errorf("strata_groups_lag_records not exported")
		}
		for _, m := range lag.GetMetric() {
			if label(m, "group") == "watchers" && label(m, "topic") == "observed" {
				if got := m.GetGauge().GetValue(); got != 2 {
					return fmt.Errorf("lag %v, want 2 (5 records, committed at 3)", got)
				}
				return nil
			}
		}
		return fmt.Errorf("no lag series for group watchers")
	}
}

// TestPromtoolRules runs promtool's own checks on the rules and their
// unit tests (alerts that must fire, and must not, on given series).
func TestPromtoolRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool not found (Debian package prometheus): %v", err)
		return
	}
	root := repoRoot(t)
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(root, rulesFile)},
		{"test", "rules", filepath.Join(root, rulesTestFile)},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := proc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// histogramBase is the family name of a histogram's series name.
func histogramBase(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// scrape reads a /metrics page with Prometheus's own text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// produceAndCommit writes n records to a new one-partition topic and
// commits offset at for group.
func produceAndCommit(t *testing.T, addr, topic, group string, n, at int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte{byte(i)}}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: int64(at), LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(resp.Sorted(), func(r kadm.OffsetResponse) bool { return r.Topic == topic }) {
		t.Fatalf("commit answered no partition of %s", topic)
	}
}
