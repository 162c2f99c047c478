package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/apptest"
)

// TestMessageBrowserBoundOnAMillionRecords checks that one page of the
// message browser reads a bounded number of records from the broker
// whatever the size of the partition: on a partition of a million
// records, a filter that matches nothing stops at the scan bound, and
// the end of the log reads one page's worth. The records read are counted
// three ways: what the page says, the console's own counter of records
// returned by the broker, and the broker's strata_kafka_fetch_bytes_total.
func TestMessageBrowserBoundOnAMillionRecords(t *testing.T) {
	const (
		records  = 1_000_000
		maxScan  = 10_000
		batchMax = 16 << 10
	)
	node := apptest.Start(t, apptest.Dev, "-console.max-scan="+strconv.Itoa(maxScan))
	kc, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr), kgo.DefaultProduceTopic("million"),
		kgo.ProducerBatchMaxBytes(batchMax), kgo.MaxBufferedRecords(100_000), kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx := context.Background()
	var mu sync.Mutex
	var firstErr error
	for i := range records {
		kc.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%08d", i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	if err := kc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	producedBytes := metric(t, node, "strata_kafka_produce_bytes_total")
	perRecord := producedBytes / records
	// A batch of 16 KiB holds at most this many of these records: the
	// most a fetch can return beyond what it asked for.
	batchRecords := int(batchMax/perRecord) + 1
	t.Logf("%d records, %.1f bytes each in their batches, up to %d a batch", records, perRecord, batchRecords)

	for _, tc := range []struct {
		name, query string
		scanned     int // records the page examines
		shown       int
	}{
		{"filter that matches nothing", "partition=0&from=beginning&filter=no-such-value", maxScan, 0},
		{"the end of the log", "partition=0&from=end", 100, 100},
		{"from an offset", "partition=0&from=offset&offset=500000", 100, 100},
		{"filter from the end", "partition=0&from=end&filter=0099999", maxScan, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fetchedBefore := metric(t, node, "strata_console_fetched_records_total")
			bytesBefore := metric(t, node, "strata_kafka_fetch_bytes_total")
			page := get(t, "http://"+node.AdminAddr+"/ui/topics/million/messages?"+tc.query)
			fetched := int(metric(t, node, "strata_console_fetched_records_total") - fetchedBefore)
			fetchBytes := metric(t, node, "strata_kafka_fetch_bytes_total") - bytesBefore
			m := boundsNote.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no bounds note on the page:\n%s", page)
			}
			scanned, _ := strconv.Atoi(m[1])
			onPage, _ := strconv.Atoi(m[2])
			shown := strings.Count(page, "<tr data-offset=")
			t.Logf("examined %d, read %d records (%.0f bytes) from the broker, shown %d", scanned, fetched, fetchBytes, shown)
			if scanned != tc.scanned || shown != tc.shown {
				t.Errorf("examined %d and showed %d records, want %d and %d", scanned, shown, tc.scanned, tc.shown)
			}
			if onPage != fetched {
				t.Errorf("the page says %d records read from the broker, the counter %d", onPage, fetched)
			}
			// Whole batches: the first may start before the first offset
			// examined, the last go past the bound.
			if bound := tc.scanned + 2*batchRecords; fetched > bound {
				t.Errorf("read %d records from the broker, bound %d", fetched, bound)
			}
			if bound := float64(tc.scanned+2*batchRecords) * perRecord * 1.1; fetchBytes > bound {
				t.Errorf("the broker returned %.0f bytes of batches, bound %.0f", fetchBytes, bound)
			}
		})
	}
}

var boundsNote = regexp.MustCompile(`(\d+) records examined, (\d+) read from the broker`)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}

// metric reads a counter of the node's /metrics.
func metric(t *testing.T, node *apptest.Node, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + node.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	var v float64
	for _, m := range mf.GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}
