package kafka

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/topicconfig"
)

// TestDescribeConfigsNodeDefaults: a node whose settings change the
// broker-level defaults of topic configs reports them as Kafka reports a
// broker's static configs, in CreateTopics, in DescribeConfigs of a topic
// (v0's is_default included) and of the broker, with synonyms in Kafka's
// order: the topic's setting, the node's, Kafka's default.
func TestDescribeConfigsNodeDefaults(t *testing.T) {
	defaults, err := topicconfig.NewDefaults(topicconfig.Broker{
		Retention: time.Hour, RetentionBytes: 1 << 30, DeleteRetention: 10 * time.Minute, MinCleanableDirtyRatio: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *Config) { c.TopicDefaults = defaults }, noDataPath{})
	_, adm := s.clients(t)
	ctx := testContext(t)
	created, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, "cfg")
	if err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	for name, want := range map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"retention.ms":        {"1000", kmsg.ConfigSourceDynamicTopicConfig},
		"retention.bytes":     {"1073741824", kmsg.ConfigSourceStaticBrokerConfig},
		"delete.retention.ms": {"600000", kmsg.ConfigSourceStaticBrokerConfig},
		"max.message.bytes":   {"1048588", kmsg.ConfigSourceDefaultConfig},
	} {
		if c := created.Configs[name]; value(c) != want.value || c.Source != want.source {
			t.Errorf("CreateTopics %s = %s (%v), want %s (%v)", name, value(c), c.Source, want.value, want.source)
		}
	}

	type syn struct {
		name, value string
		source      kmsg.ConfigSource
	}
	check := func(what string, c kadm.Config, value string, source kmsg.ConfigSource, want ...syn) {
		t.Helper()
		ok := c.Value != nil && *c.Value == value && c.Source == source && len(c.Synonyms) == len(want)
		for i := 0; ok && i < len(want); i++ {
			s := c.Synonyms[i]
			ok = s.Key == want[i].name && s.Value != nil && *s.Value == want[i].value && s.Source == want[i].source
		}
		if !ok {
			t.Errorf("%s = %+v, want %s (%v) with synonyms %+v", what, c, value, source, want)
		}
	}
	cfgs := configsOf(t, adm, "cfg")
	brcs, err := adm.DescribeBrokerConfigs(ctx, testNodeID)
	if err != nil || len(brcs) != 1 || brcs[0].Err != nil {
		t.Fatalf("describe broker: %v %+v", err, brcs)
	}
	broker := map[string]kadm.Config{}
	for _, c := range brcs[0].Configs {
		broker[c.Key] = c
	}
	static, dflt, dynamic := kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceDynamicTopicConfig
	// The configs the node sets have its value on the broker and on a
	// topic that does not set its own; their broker config's synonyms are
	// the node's value, then Kafka's default.
	for _, n := range []struct{ name, broker, value, kafka string }{
		{"retention.ms", "log.retention.ms", "3600000", "604800000"},
		{"retention.bytes", "log.retention.bytes", "1073741824", "-1"},
		{"delete.retention.ms", "log.cleaner.delete.retention.ms", "600000", "86400000"},
		{"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", "0.25", "0.5"},
	} {
		syns := []syn{{n.broker, n.value, static}, {n.broker, n.kafka, dflt}}
		check("broker "+n.broker, broker[n.broker], n.value, static, syns...)
		if n.name == "retention.ms" { // the topic's own comes first
			check(n.name, cfgs[n.name], "1000", dynamic, append([]syn{{n.name, "1000", dynamic}}, syns...)...)
		} else {
			check(n.name, cfgs[n.name], n.value, static, syns...)
		}
	}
	check("max.message.bytes", cfgs["max.message.bytes"], "1048588", dflt, syn{"message.max.bytes", "1048588", dflt})
	check("broker message.max.bytes", broker["message.max.bytes"], "1048588", dflt, syn{"message.max.bytes", "1048588", dflt})
	check("follower.replication.throttled.replicas", cfgs["follower.replication.throttled.replicas"], "", dflt)
	check("broker.id", broker["broker.id"], "7", static, syn{"broker.id", "7", static})

	// DescribeConfigs v0 has is_default instead of sources: a node's
	// setting is not a default.
	c := s.dial(t)
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = "cfg"
	res.ConfigNames = []string{"retention.bytes", "max.message.bytes"}
	req.Resources = append(req.Resources, res)
	got := c.roundTrip(req, 0).(*kmsg.DescribeConfigsResponse).Resources[0].Configs
	if len(got) != 2 || got[0].Name != "max.message.bytes" || !got[0].IsDefault || got[1].Name != "retention.bytes" || got[1].IsDefault {
		t.Errorf("v0 configs %+v", got)
	}
}
