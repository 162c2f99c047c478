package cost_test

import (
	"context"
	"crypto/rand"
	"math"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/cost"
	"github.com/stratalog/strata/internal/testenv"
)

// TestPutSharedByBytes produces known bytes to two topics in one
// segment and checks that the segment's PUT is shared between them by the
// bytes of their chunks, in the metrics a user scrapes.
func TestPutSharedByBytes(t *testing.T) {
	node := apptest.Start(t, apptest.Dev)
	kc, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(kc).CreateTopics(ctx, 1, 1, nil, "big", "small"); err != nil {
		t.Fatal(err)
	}
	// Random bytes do not compress: the chunks keep the 3:1 ratio.
	big, small := make([]byte, 30000), make([]byte, 10000)
	rand.Read(big)
	rand.Read(small)
	// One request, so one segment.
	if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "big", Value: big}, &kgo.Record{Topic: "small", Value: small}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	store := node.App.Store()
	chunk := func(name string) (key string, length, size int64) {
		tp, err := store.TopicByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := store.ChunksFrom(ctx, tp.ID, 0, 0, 10)
		if err != nil || len(cs) != 1 {
			t.Fatalf("chunks of %s: %v, %v", name, cs, err)
		}
		return cs[0].ObjectKey, cs[0].Length, cs[0].ObjectSize
	}
	bigKey, bigLen, size := chunk("big")
	smallKey, smallLen, _ := chunk("small")
	if bigKey != smallKey {
		t.Fatalf("the two records went to two objects (%s, %s): the test needs one", bigKey, smallKey)
	}
	wantBig := float64(bigLen) / float64(bigLen+smallLen)
	if wantBig < 0.7 || wantBig > 0.8 {
		t.Fatalf("chunk lengths %d and %d: not the 3:1 produced", bigLen, smallLen)
	}
	m := scrape(t, node.AdminAddr)
	for _, tc := range []struct {
		topic string
		share float64
	}{{"big", wantBig}, {"small", 1 - wantBig}} {
		if got := m["strata_cost_object_puts_total"][tc.topic]; math.Abs(got-tc.share) > 1e-9 {
			t.Errorf("%s: %.6f PUTs, want %.6f", tc.topic, got, tc.share)
		}
		if got, want := m["strata_cost_object_put_bytes_total"][tc.topic], tc.share*float64(size); math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: %.1f PUT bytes, want %.1f of the %d-byte object", tc.topic, got, want, size)
		}
	}
	if got := m["strata_cost_produced_bytes_total"]["big"]; got < 30000 {
		t.Errorf("big: %.0f bytes produced, want at least the 30000 of its value", got)
	}
}

// scrape reads the node's counters by name and topic label.
func scrape(t *testing.T, admin string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for name, mf := range families(t, admin) {
		out[name] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" {
					out[name][l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// families reads the node's /metrics.
func families(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func TestPrices(t *testing.T) {
	p, err := cost.ParsePrices("s3-standard")
	if err != nil {
		t.Fatal(err)
	}
	// 10 PUTs a second for a day: 864,000 PUTs at $0.005 per 1,000.
	req, stor := p.Daily(10, 0, 0)
	if math.Abs(req-4.32) > 1e-9 || stor != 0 {
		t.Errorf("10 PUT/s a day: $%v, $%v; want $4.32", req, stor)
	}
	// 30 GB for a day: a thirtieth of 30 × $0.023.
	if _, stor := p.Daily(0, 0, 30e9); math.Abs(stor-0.023) > 1e-9 {
		t.Errorf("30 GB a day: $%v, want $0.023", stor)
	}
	c, err := cost.ParsePrices("put=0.01,get=0.001,storage=0.1")
	if err != nil || c.PutPer1000 != 0.01 || c.GetPer1000 != 0.001 || c.StorageGBMon != 0.1 {
		t.Errorf("custom prices: %+v, %v", c, err)
	}
	for _, bad := range []string{"", "s3", "put=1", "put=1,get=1,storage=x", "put=-1,get=1,storage=1", "put=1,get=1,disk=1"} {
		if _, err := cost.ParsePrices(bad); err == nil {
			t.Errorf("ParsePrices(%q) accepted", bad)
		}
	}
}

// TestCompactionAttributed lets the compactor merge a topic's level-0
// chunks and checks that the level-1 object's PUT and the metastore
// transactions that committed the topic's objects are the topic's, in the
// metrics a user scrapes.
func TestCompactionAttributed(t *testing.T) {
	node := apptest.Start(t, apptest.Dev, "-compactor.interval=50ms", "-compactor.min-level0-chunks=1")
	kc, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(kc).CreateTopics(ctx, 1, 1, nil, "merged"); err != nil {
		t.Fatal(err)
	}
	// Two synchronous produces are two segments, so two level-0 chunks.
	for range 2 {
		v := make([]byte, 20000)
		rand.Read(v)
		if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "merged", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	store := node.App.Store()
	tp, err := store.TopicByName(ctx, "merged")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the merge of the topic's level-0 chunks", func() bool {
		cs, err := store.ChunksFrom(ctx, tp.ID, 0, 0, 10)
		return err == nil && len(cs) == 1 && cs[0].Level == 1
	})
	var m map[string]map[string]float64
	testenv.WaitFor(t, 10*time.Second, "the swap's attribution", func() bool {
		m = scrape(t, node.AdminAddr)
		return m["strata_cost_compaction_puts_total"]["merged"] > 0
	})
	// One single-partition object: its PUT is the topic's, but for the
	// object's own header and index.
	if got := m["strata_cost_compaction_puts_total"]["merged"]; got < 0.95 || got > 1 {
		t.Errorf("compaction PUTs of the topic: %.4f, want the level-1 object's (0.95 to 1)", got)
	}
	// Two segment commits and one swap, each wholly the topic's.
	if got := m["strata_cost_metastore_transactions_total"]["merged"]; math.Abs(got-3) > 1e-9 {
		t.Errorf("metastore transactions of the topic: %v, want 3 (two segment commits, one swap)", got)
	}
	if got := m["strata_cost_object_puts_total"]["merged"]; got < 2.95 || got > 3 {
		t.Errorf("PUTs of the topic: %.4f, want two level-0 objects and the level-1 one", got)
	}
}

func TestPutRateOfABudget(t *testing.T) {
	p, _ := cost.ParsePrices("s3-standard")
	// $52 a month at $0.005 per 1,000 PUTs: 10.4 million PUTs in 30
	// days, about 4 a second.
	r, err := p.PutRate(52)
	if err != nil || math.Abs(r-52/0.000005/(30*86400)) > 1e-9 || r < 4 || r > 4.02 {
		t.Errorf("$52 a month: %v PUTs/s, %v; want about 4", r, err)
	}
	if r, err := p.PutRate(0); r != 0 || err != nil {
		t.Errorf("no budget: %v, %v; want 0 (no limit)", r, err)
	}
	free, _ := cost.ParsePrices("put=0,get=0,storage=0")
	if _, err := free.PutRate(5); err == nil {
		t.Error("a budget with free PUTs: no error, want one saying no rate follows")
	}
}

func TestTopicBudgets(t *testing.T) {
	c := cost.Config{TopicPutBudgets: "orders=5, clicks=20.5"}
	b, err := c.TopicBudgets()
	if err != nil || len(b) != 2 || b["orders"] != 5 || b["clicks"] != 20.5 {
		t.Fatalf("budgets %v, %v", b, err)
	}
	for _, bad := range []string{"orders", "orders=", "=5", "orders=-1", "orders=0", "orders=5,orders=6", "orders=abc"} {
		c := cost.Config{TopicPutBudgets: bad}
		if err := c.Validate(); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	if err := (&cost.Config{MonthlyPutBudget: -1}).Validate(); err == nil {
		t.Error("a negative node budget: accepted")
	}
}

// TestMonthlyPutBudget gives a strata dev node, whose local directory has
// no PUT budget of its own, a budget of $129.60 a month: 10 PUTs a second
// at S3 Standard's price. Synchronous produces one after the other, each
// of which would otherwise be a segment of its own, then make at most 10
// PUTs a second; the budgets are exported for the alert rules.
func TestMonthlyPutBudget(t *testing.T) {
	node := apptest.Start(t, apptest.Dev, "-cost.monthly-put-budget=129.6", "-cost.topic-put-budgets=orders=5,clicks=20",
		"-compactor.interval=1h")
	kc, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr), kgo.DefaultProduceTopic("orders"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx := context.Background()
	if err := kc.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := gauges(t, node.AdminAddr)["strata_objstore_requests_total"]
	start := time.Now()
	for i := range 20 {
		if err := kc.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	g := gauges(t, node.AdminAddr)
	puts := g["strata_objstore_requests_total"] - before
	if limit := 10*elapsed.Seconds() + 1; puts > limit {
		t.Errorf("%v PUTs in %v: more than the budget's 10 a second allows (%.1f)", puts, elapsed.Round(time.Millisecond), limit)
	}
	if puts < 1 {
		t.Errorf("%v PUTs for 20 produces", puts)
	}
	for name, want := range map[string]float64{
		"strata_cost_put_price_dollars":               0.000005,
		"strata_cost_node_put_budget_dollars":         129.6,
		`strata_cost_topic_put_budget_dollars/orders`: 5,
		`strata_cost_topic_put_budget_dollars/clicks`: 20,
	} {
		if got := g[name]; math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// gauges reads the node's metrics: a family's sum by name, and each
// series of a topic as name/topic. Object-store requests count PUTs only.
func gauges(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	mfs := families(t, admin)
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if name == "strata_objstore_requests_total" && labels["op"] != "put" {
				continue
			}
			out[name] += v
			if tp, ok := labels["topic"]; ok {
				out[name+"/"+tp] += v
			}
		}
	}
	return out
}
