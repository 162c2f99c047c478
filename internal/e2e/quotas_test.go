package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClientQuotaSetOnOneNodeEnforcedOnAnother: a quota altered through
// node 1 throttles a client of node 2 within two seconds, and its removal
// there too. Node 2 enforces it itself: its own metrics count the throttle.
func TestClientQuotaSetOnOneNodeEnforcedOnAnother(t *testing.T) {
	data := newServeData(t)
	nodes := map[int32]*strata{}
	for _, id := range []int32{1, 2} {
		nodes[id] = startStrata(t, modeServe, strataOpts{Shared: data, InProcess: true, Args: []string{
			"-kafka.node-id", strconv.Itoa(int(id)),
			"-cluster.lease", testLease.String(),
			"-cluster.refresh-interval", "100ms",
			// Short windows: a throttle lasts at most 11 of them.
			"-kafka.quota.window-size", "10ms",
		}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// One client per node, each talking to its node only.
	admin := newClient(t, nodes[1].KafkaAddr)
	client := newClient(t, nodes[2].KafkaAddr, kgo.ClientID("quota-e2e"))
	seed := func(cl *kgo.Client) *kgo.Broker { return cl.SeedBrokers()[0] }

	alter := func(remove bool) time.Time {
		t.Helper()
		req := kmsg.NewPtrAlterClientQuotasRequest()
		e := kmsg.NewAlterClientQuotasRequestEntry()
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type, c.Name = "client-id", kmsg.StringPtr("quota-e2e")
		e.Entity = append(e.Entity, c)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		// A millionth of a core: every request is over it.
		op.Key, op.Value, op.Remove = "request_percentage", 0.0001, remove
		e.Ops = append(e.Ops, op)
		req.Entries = append(req.Entries, e)
		resp, err := req.RequestWith(ctx, seed(admin))
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.Entries[0].ErrorCode); err != nil {
			t.Fatalf("alter through node 1: %v", err)
		}
		return time.Now()
	}
	throttled := func() bool {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{}
		resp, err := req.RequestWith(ctx, seed(client))
		if err != nil {
			t.Fatalf("metadata from node 2: %v", err)
		}
		return resp.ThrottleMillis > 0
	}

	if throttled() {
		t.Fatal("node 2 throttles before any quota is set")
	}
	set := alter(false)
	waitFor(t, 5*time.Second, "node 2 to throttle the client", throttled)
	took := time.Since(set)
	t.Logf("node 2 enforced the quota %v after node 1 stored it", took)
	if took > 2*time.Second {
		t.Errorf("node 2 enforced a quota set through node 1 after %v, want within 2 s", took)
	}
	if n := scrapeMetric(t, nodes[2].AdminAddr, "strata_kafka_quota_throttled_responses_total", "quota", "request"); n < 1 {
		t.Errorf("node 2 counts %v throttled responses", n)
	}

	removed := alter(true)
	waitFor(t, 5*time.Second, "node 2 to stop throttling", func() bool { return !throttled() })
	if took := time.Since(removed); took > 2*time.Second {
		t.Errorf("node 2 went on throttling for %v after the quota was removed through node 1", took)
	}
}
