package kafka

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInternalTopicsInMetadata: __consumer_offsets is listed as Kafka
// lists it, marked internal, when every topic is asked for and when it is
// named (as franz-go's own tests wait for after a FindCoordinator); it is
// neither auto-created nor writable, and regex consumption leaves it out.
func TestInternalTopicsInMetadata(t *testing.T) {
	s := startServer(t)
	cl, adm := s.clients(t)
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}

	all, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := all["__consumer_offsets"]
	if !ok || !d.IsInternal || len(d.Partitions) != 50 || d.Err != nil {
		t.Fatalf("__consumer_offsets in every topic: %+v (listed %v)", d, ok)
	}
	for _, p := range d.Partitions {
		if p.Leader != s.cfg.NodeID || p.Err != nil {
			t.Fatalf("partition %d: leader %d, error %v; want the only broker", p.Partition, p.Leader, p.Err)
		}
	}
	if e := all["events"]; e.IsInternal {
		t.Error("events is marked internal")
	}
	users, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := users["__consumer_offsets"]; ok {
		t.Error("ListTopics without internal topics lists __consumer_offsets")
	}

	// Named, with auto-creation allowed: listed, not created.
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("__consumer_offsets")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || !resp.Topics[0].IsInternal {
		t.Fatalf("named __consumer_offsets: %+v", resp.Topics)
	}
	if _, err := s.store.TopicByName(ctx, "__consumer_offsets"); err == nil {
		t.Error("naming __consumer_offsets in Metadata created it in the metastore")
	}

	// Produce is refused as Kafka refuses it; creating it finds it exists.
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	cr, err := adm.CreateTopic(ctx, 1, 1, nil, "__consumer_offsets")
	if !errors.Is(err, kerr.TopicAlreadyExists) && !errors.Is(cr.Err, kerr.TopicAlreadyExists) {
		t.Errorf("create __consumer_offsets: %v %v, want TOPIC_ALREADY_EXISTS", err, cr.Err)
	}

	// A regex subscription to everything gets the user's topics only.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "events", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rc, _ := s.clients(t, kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fetches := rc.PollFetches(ctx)
	if err := fetches.Err0(); err != nil {
		t.Fatal(err)
	}
	fetches.EachTopic(func(ft kgo.FetchTopic) {
		if ft.Topic != "events" {
			t.Errorf("regex consumption fetched %s", ft.Topic)
		}
	})
}

// TestInternalTopicsKcat: kcat -L (librdkafka) lists __consumer_offsets
// with its partitions, as against a Kafka broker.
func TestInternalTopicsKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kcat is not installed: %v", err)
		}
		t.Skip("kcat is not installed")
	}
	s := startServer(t)
	out, err := exec.CommandContext(testContext(t), kcat, "-b", s.addr, "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	id := s.cfg.NodeID
	for _, want := range []string{
		`topic "__consumer_offsets" with 50 partitions:`,
		fmt.Sprintf("partition 0, leader %d, replicas: %d, isrs: %d", id, id, id),
		fmt.Sprintf("partition 49, leader %d,", id),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kcat -L does not show %q:\n%s", want, out)
		}
	}
}
