package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicConfigDefaultsFromFlags: a node started with retention flags
// other than Kafka's defaults reports them in DescribeConfigs, as Kafka
// reports a broker-level setting (source STATIC_BROKER_CONFIG, the broker
// config and Kafka's default as synonyms), for a topic that does not set
// its own and for the broker; and its compactor enforces the retention.ms
// it reports: a record just older than it goes, one just younger stays.
func TestTopicConfigDefaultsFromFlags(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{InProcess: true, Args: []string{
		"-compactor.retention", "1h",
		"-compactor.retention-bytes", "1073741824",
		"-compactor.delete-retention", "10m",
		"-compactor.min-cleanable-dirty-ratio", "0.25",
		"-compactor.interval", "50ms",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := newClient(t, s.KafkaAddr)
	adm := kadm.NewClient(cl)
	const topic = "aged"
	createTopic(t, s.KafkaAddr, topic, 1)

	type setting struct{ broker, value, kafkaDefault string }
	flagged := map[string]setting{
		"retention.ms":              {"log.retention.ms", "3600000", "604800000"},
		"retention.bytes":           {"log.retention.bytes", "1073741824", "-1"},
		"delete.retention.ms":       {"log.cleaner.delete.retention.ms", "600000", "86400000"},
		"min.cleanable.dirty.ratio": {"log.cleaner.min.cleanable.ratio", "0.25", "0.5"},
	}
	// checkSynonyms: the broker config with the node's value, then Kafka's
	// default.
	checkSynonyms := func(what string, c kadm.Config, want setting) {
		t.Helper()
		syn := c.Synonyms
		if len(syn) != 2 ||
			syn[0].Key != want.broker || ptrValue(syn[0].Value) != want.value || syn[0].Source != kmsg.ConfigSourceStaticBrokerConfig ||
			syn[1].Key != want.broker || ptrValue(syn[1].Value) != want.kafkaDefault || syn[1].Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s synonyms %+v, want %s=%s (STATIC_BROKER_CONFIG), %s=%s (DEFAULT_CONFIG)",
				what, synonymsString(syn), want.broker, want.value, want.broker, want.kafkaDefault)
		}
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	cfgs := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		cfgs[c.Key] = c
	}
	for name, want := range flagged {
		c := cfgs[name]
		if ptrValue(c.Value) != want.value || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
			t.Errorf("topic %s = %s (source %v), want %s from the node's flags (STATIC_BROKER_CONFIG)", name, ptrValue(c.Value), c.Source, want.value)
		}
		checkSynonyms("topic "+name, c, want)
	}
	// A config no flag sets keeps Kafka's default.
	if c := cfgs["max.message.bytes"]; ptrValue(c.Value) != "1048588" || c.Source != kmsg.ConfigSourceDefaultConfig ||
		len(c.Synonyms) != 1 || c.Synonyms[0].Key != "message.max.bytes" || c.Synonyms[0].Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("max.message.bytes = %s (source %v, synonyms %s), want Kafka's default", ptrValue(c.Value), c.Source, synonymsString(c.Synonyms))
	}

	brcs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil || len(brcs) != 1 || brcs[0].Err != nil {
		t.Fatalf("describe broker: %v %+v", err, brcs)
	}
	broker := map[string]kadm.Config{}
	for _, c := range brcs[0].Configs {
		broker[c.Key] = c
	}
	for _, want := range flagged {
		c := broker[want.broker]
		if ptrValue(c.Value) != want.value || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
			t.Errorf("broker %s = %s (source %v), want %s (STATIC_BROKER_CONFIG)", want.broker, ptrValue(c.Value), c.Source, want.value)
		}
		checkSynonyms("broker "+want.broker, c, want)
	}
	if t.Failed() {
		return
	}

	// The compactor enforces the retention.ms shown: records are aged by
	// their own timestamps (CreateTime), one ten minutes past it and one
	// ten minutes short of it, each in a chunk of its own.
	shown, err := strconv.ParseInt(ptrValue(cfgs["retention.ms"].Value), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	retention := time.Duration(shown) * time.Millisecond
	// franz-go measures a record's delivery timeout from its timestamp,
	// which these are far past: a producer without one, and without
	// idempotence, so that the test's context bounds its wait.
	producer, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	now := time.Now()
	for _, r := range []*kgo.Record{
		{Topic: topic, Value: []byte("expired"), Timestamp: now.Add(-retention - 10*time.Minute)},
		{Topic: topic, Value: []byte("kept"), Timestamp: now.Add(-retention + 10*time.Minute)},
	} {
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", r.Value, err)
		}
	}
	logStart := func() int64 {
		t.Helper()
		offs, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatalf("list start offsets: %v", err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok || o.Err != nil {
			t.Fatalf("start offset of %s/0: %v %+v", topic, ok, o)
		}
		return o.Offset
	}
	waitFor(t, time.Minute, "retention to move the log start past the expired record", func() bool { return logStart() >= 1 })
	// Two more rounds, so that a retention shorter than the one shown
	// would have had its chance to take the younger record too.
	rounds := scrapeMetric(t, s.AdminAddr, "strata_compactor_rounds_total", "result", "ok")
	waitFor(t, time.Minute, "two more compactor rounds", func() bool {
		return scrapeMetric(t, s.AdminAddr, "strata_compactor_rounds_total", "result", "ok") >= rounds+2
	})
	if got := logStart(); got != 1 {
		t.Fatalf("log start %d after the retention of %s, want 1: only the record older than it goes", got, retention)
	}
	fetch := newClient(t, s.KafkaAddr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	fs := fetch.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Value) != "kept" || recs[0].Offset != 1 {
		t.Fatalf("records after retention: %d, want only \"kept\" at offset 1", len(recs))
	}
}

func ptrValue(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func synonymsString(syn []kadm.ConfigSynonym) string {
	out := "["
	for i, s := range syn {
		if i > 0 {
			out += ", "
		}
		out += s.Key + "=" + ptrValue(s.Value) + " (" + s.Source.String() + ")"
	}
	return out + "]"
}
