package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// TestDevAcksSyncProduceWithoutFlushInterval: strata dev, on its own
// defaults, has no PUT budget (its objects go to a local directory), so a
// synchronous produce is acknowledged after one local write and one
// metastore commit. 50 produces one after another, each waiting for its
// ack, would need at least 12.5 s if each waited for a 250 ms interval
// (the old default); the bound here is far above what a working build
// takes (docs/benchmarks.md has the latencies) and far below that.
func TestDevAcksSyncProduceWithoutFlushInterval(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{FlushInterval: -1})
	const topic = "sync-acks"
	createTopic(t, s.KafkaAddr, topic, 1)
	cl := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The first produce also learns the topic's metadata and a producer id.
	if err := cl.ProduceSync(ctx, kgo.StringRecord("warm-up")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const n = 50
	start := time.Now()
	for i := range n {
		r, err := cl.ProduceSync(ctx, kgo.StringRecord("sync")).First()
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if r.Offset != int64(i+1) {
			t.Fatalf("produce %d acked at offset %d, want %d", i, r.Offset, i+1)
		}
	}
	took := time.Since(start)
	t.Logf("%d synchronous produces in %v (%v each)", n, took, took/n)
	if limit := n * 250 * time.Millisecond / 3; took > limit {
		t.Fatalf("%d synchronous produces took %v, over %v: acks wait for a flush interval", n, took, limit)
	}
}

// TestOldSealFlags: -ingest.flush-interval still works (as a PUT budget of
// one PUT per interval); the flags of the removed modes stop the node at
// once with a message that names what to use.
func TestOldSealFlags(t *testing.T) {
	t.Run("flush interval works", func(t *testing.T) {
		s := startStrata(t, modeDev, strataOpts{FlushInterval: 10 * time.Millisecond})
		createTopic(t, s.KafkaAddr, "old-flag", 1)
		cl := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic("old-flag"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for range 3 {
			if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if hw := endOffsets(t, s.KafkaAddr, "old-flag"); hw[0] != 3 {
			t.Fatalf("high watermark %d after 3 produces", hw[0])
		}
	})
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-ingest.adaptive"}, "ingest.adaptive was removed"},
		{[]string{"-ingest.max-puts-per-second", "100"}, "ingest.max-puts-per-second was removed: use ingest.put-budget"},
		{[]string{"-ingest.quiet-interval", "3ms"}, "ingest.quiet-interval was removed"},
		{[]string{"-ingest.flush-interval", "250ms", "-ingest.put-budget", "4"}, "set only ingest.put-budget"},
	} {
		for _, mode := range []string{modeDev, modeServe} {
			t.Run(mode+strings.Join(tc.flags, "_"), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				args := []string{mode, "-kafka.listen-address", freeAddr(t), "-admin.listen-address", freeAddr(t)}
				if mode == modeDev {
					args = append(args, "-data-dir", filepath.Join(t.TempDir(), "data"))
				} else {
					args = append(args, "-objstore.url", "s3://unused")
				}
				cmd := exec.CommandContext(ctx, testenv.StrataBinary(t), append(args, tc.flags...)...)
				out, err := cmd.CombinedOutput()
				if err == nil || ctx.Err() != nil {
					t.Fatalf("strata %s %v: exit %v, want it to refuse at once; output:\n%s", mode, tc.flags, err, out)
				}
				if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "ingest.put-budget") {
					t.Fatalf("strata %s %v said:\n%s\nwant %q and what to use (ingest.put-budget)", mode, tc.flags, out, tc.want)
				}
			})
		}
	}
}
