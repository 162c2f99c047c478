package apptest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// roundTrip creates a topic on the node, produces a record and reads it
// back with franz-go.
func roundTrip(t *testing.T, n *apptest.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr), kgo.DefaultProduceTopic("t"),
		kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != "v" {
		t.Fatalf("read back %d records, want the one produced", len(rs))
	}
}

func TestDevNode(t *testing.T) {
	n := apptest.Start(t, apptest.Dev, "-ingest.flush-interval", "5ms", "-kafka.node-id", "3")
	if cfg := apptest.Config(t, apptest.Dev, "-ingest.flush-interval", "5ms"); cfg.Ingest.FlushInterval != 5*time.Millisecond || cfg.SQLite.Path == "" {
		t.Errorf("dev config: flush %v, sqlite %q", cfg.Ingest.FlushInterval, cfg.SQLite.Path)
	}
	roundTrip(t, n)
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-n.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if n.Err() != nil {
		t.Errorf("Err after a clean stop: %v", n.Err())
	}
	if _, err := http.Get("http://" + n.AdminAddr + "/readyz"); err == nil {
		t.Error("/readyz still answers after Stop")
	}
	if err := n.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestServeNode(t *testing.T) {
	s3 := testenv.S3(t)
	n := apptest.Start(t, apptest.Serve,
		"-metastore.postgres.url", testenv.PostgresURL(t),
		"-objstore.url", "s3://"+s3.Bucket, "-objstore.endpoint", s3.Endpoint, "-objstore.region", s3.Region,
		"-objstore.access-key-id", s3.AccessKeyID, "-objstore.secret-access-key", s3.SecretAccessKey,
		"-objstore.path-style", "-ingest.flush-interval", "5ms")
	roundTrip(t, n)
}

// Two nodes share the test process: nothing of one is global.
func TestTwoNodesInOneProcess(t *testing.T) {
	a := apptest.Start(t, apptest.Dev)
	b := apptest.Start(t, apptest.Dev)
	if a.KafkaAddr == b.KafkaAddr || a.AdminAddr == b.AdminAddr {
		t.Fatalf("nodes share addresses: %s %s, %s %s", a.KafkaAddr, a.AdminAddr, b.KafkaAddr, b.AdminAddr)
	}
	roundTrip(t, a)
	roundTrip(t, b)
}
