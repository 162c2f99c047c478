package cost_test

import (
	"context"
	"crypto/rand"
	"math"
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/cost"
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
	out := map[string]map[string]float64{}
	for name, mf := range mfs {
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
