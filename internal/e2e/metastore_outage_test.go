package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// produceLog records the outcome of every record a producer sent.
type produceLog struct {
	mu     sync.Mutex
	sent   int
	acked  int
	failed []error
	values map[string]bool // acked values
}

func newProduceLog() *produceLog { return &produceLog{values: map[string]bool{}} }

// produce sends one record and records its outcome.
func (l *produceLog) produce(ctx context.Context, cl *kgo.Client, topic, value string) {
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}, func(r *kgo.Record, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.failed = append(l.failed, fmt.Errorf("%s: %w", value, err))
			return
		}
		l.acked++
		l.values[value] = true
	})
}

// counts returns how many records were sent, acked and failed.
func (l *produceLog) counts() (sent, acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.acked, len(l.failed)
}

// failures describes the failed records: how many failed with each error
// and whether franz-go counts that error as retriable.
func (l *produceLog) failures() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	byErr := map[string]int{}
	for _, err := range l.failed {
		var ke *kerr.Error
		desc := err.Error()
		if errors.As(err, &ke) {
			desc = fmt.Sprintf("%s (retriable: %v)", ke.Message, ke.Retriable)
		} else if _, v, ok := strings.Cut(desc, ": "); ok {
			desc = v
		}
		byErr[desc]++
	}
	var out []string
	for e, n := range byErr {
		out = append(out, fmt.Sprintf("%d × %s", n, e))
	}
	return strings.Join(out, "; ")
}

// TestProducersRideOutPostgresRestart restarts the PostgreSQL server of a
// strata serve node while idempotent franz-go producers send to it: one
// that was producing before the outage, and one that starts during it, so
// that it must get a producer id and the metadata of a topic the node has
// not looked up yet while the database is down. A metastore outage must
// look to clients like a retriable condition: no record may fail, and once
// the database is back every record is acked and stored exactly once.
func TestProducersRideOutPostgresRestart(t *testing.T) {
	pg := testenv.StartPostgres(t)
	bucket := testenv.S3(t)
	data := &serveData{
		env: []string{"STRATA_METASTORE_POSTGRES_URL=" + pg.URL()},
		args: []string{
			"-objstore.url", "s3://" + bucket.Bucket,
			"-objstore.endpoint", bucket.Endpoint,
			"-objstore.region", bucket.Region,
			"-objstore.access-key-id", bucket.AccessKeyID,
			"-objstore.secret-access-key", bucket.SecretAccessKey,
			"-objstore.path-style=true",
		},
	}
	s := startStrata(t, modeServe, strataOpts{Shared: data})
	const steady, late, partitions = "outage-steady", "outage-late", 3
	createTopic(t, s.KafkaAddr, steady, partitions)
	createTopic(t, s.KafkaAddr, late, partitions)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Records wait as long as the test runs: a record that fails does so
	// because of the error the node answered, not a client timeout.
	opts := []kgo.Opt{kgo.RecordDeliveryTimeout(3 * time.Minute), kgo.ProducerLinger(5 * time.Millisecond)}
	log := newProduceLog()

	// The first producer sends all along, one record at a time in flight
	// per loop turn so that it keeps sending through the outage.
	first := newClient(t, s.KafkaAddr, opts...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			log.produce(ctx, first, steady, fmt.Sprintf("first-%d", i))
			if i%50 == 49 {
				// Bounded in flight: wait for what was sent.
				if err := first.Flush(ctx); err != nil {
					return
				}
			}
		}
	})
	waitFor(t, time.Minute, "500 records acked before the outage", func() bool {
		_, acked, failed := log.counts()
		return acked >= 500 || failed > 0
	})
	if _, _, failed := log.counts(); failed > 0 {
		t.Fatalf("records failed before the outage: %s", log.failures())
	}

	metadataBefore := scrapeMetric(t, s.AdminAddr, "strata_kafka_requests_total", "api", "Metadata")
	initBefore := scrapeMetric(t, s.AdminAddr, "strata_kafka_requests_total", "api", "InitProducerID")
	pg.Stop()
	stopped := time.Now()
	t.Log("PostgreSQL stopped")

	// The second producer starts during the outage, on both topics.
	second := newClient(t, s.KafkaAddr, opts...)
	const lateRecords = 200
	for i := range lateRecords {
		log.produce(ctx, second, steady, fmt.Sprintf("second-steady-%d", i))
		log.produce(ctx, second, late, fmt.Sprintf("second-late-%d", i))
	}
	// The outage lasts until the clients have been answered during it:
	// metadata refreshes and producer id requests retried, or a record
	// failed.
	waitFor(t, time.Minute, "clients retrying against the node during the outage", func() bool {
		if _, _, failed := log.counts(); failed > 0 {
			return true
		}
		metadata := scrapeMetric(t, s.AdminAddr, "strata_kafka_requests_total", "api", "Metadata") - metadataBefore
		inits := scrapeMetric(t, s.AdminAddr, "strata_kafka_requests_total", "api", "InitProducerID") - initBefore
		return metadata >= 10 && inits >= 8
	})
	sentDuring, ackedDuring, _ := log.counts()
	pg.Start()
	t.Logf("PostgreSQL started again after %v; %d records sent, %d acked so far", time.Since(stopped).Round(time.Millisecond), sentDuring, ackedDuring)
	restarted := time.Now()

	// The first producer goes on for a while after the restart.
	waitFor(t, 2*time.Minute, "records acked after the restart", func() bool {
		_, acked, failed := log.counts()
		return acked >= sentDuring+500 || failed > 0
	})
	t.Logf("500 more records acked %v after the restart", time.Since(restarted).Round(time.Millisecond))
	close(stop)
	wg.Wait()
	for _, cl := range []*kgo.Client{first, second} {
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	sent, acked, failed := log.counts()
	if failed > 0 {
		t.Fatalf("%d of %d records failed across the PostgreSQL restart: %s", failed, sent, log.failures())
	}
	if acked != sent {
		t.Fatalf("%d of %d records acked", acked, sent)
	}

	// Every acked record is stored, exactly once.
	seen := map[string]int{}
	for _, topic := range []string{steady, late} {
		got := consumeAll(t, s.KafkaAddr, topic)
		checkContiguous(t, got)
		for _, rs := range got {
			for _, r := range rs {
				seen[string(r.Value)]++
			}
		}
	}
	for v := range log.values {
		if seen[v] != 1 {
			t.Fatalf("acked record %s stored %d times", v, seen[v])
		}
	}
	if len(seen) != len(log.values) {
		t.Fatalf("%d records stored, %d acked", len(seen), len(log.values))
	}
	t.Logf("%d records acked across the restart, none failed", acked)
}
