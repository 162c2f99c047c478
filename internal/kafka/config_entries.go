package kafka

import (
	"errors"
	"slices"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/topicconfig"
)

// The topic configs, their checks and this node's defaults live in
// internal/topicconfig; this file renders them for CreateTopics and
// DescribeConfigs and answers their errors with Kafka's codes.

// checkTopicConfig validates one topic config value: INVALID_CONFIG for
// an unknown name or a bad value, INVALID_REQUEST for a null value.
func checkTopicConfig(name string, value *string) error {
	return configError(topicconfig.Check(name, value))
}

// configError gives a topicconfig error its Kafka code.
func configError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, topicconfig.ErrNull):
		return errorf(kerr.InvalidRequest, "%s", err)
	default:
		return errorf(kerr.InvalidConfig, "%s", err)
	}
}

// configEntry is one config as DescribeConfigs and CreateTopics report it.
type configEntry struct {
	name     string
	typ      kmsg.ConfigType
	doc      string
	value    *string
	source   kmsg.ConfigSource
	readOnly bool
	synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

// topicConfigEntries lists every topic config with its effective value,
// ordered by name. overrides are the topic's own configs; the others take
// the node's defaults, reported as Kafka reports them: a broker-level
// setting of the node (from its flags) with source STATIC_BROKER_CONFIG,
// Kafka's default with DEFAULT_CONFIG. Synonyms list, in that order, the
// topic's setting, the node's and Kafka's default.
func topicConfigEntries(d topicconfig.Defaults, overrides map[string]string, synonyms bool) []configEntry {
	entries := make([]configEntry, 0, 32)
	for def := range topicconfig.All() {
		value, broker := d.Value(def.Name)
		e := configEntry{name: def.Name, typ: def.Type, doc: def.Doc, value: strPtr(value), source: kmsg.ConfigSourceDefaultConfig}
		if broker {
			e.source = kmsg.ConfigSourceStaticBrokerConfig
		}
		if v, ok := overrides[def.Name]; ok {
			e.value = strPtr(v)
			e.source = kmsg.ConfigSourceDynamicTopicConfig
			if synonyms {
				e.synonyms = append(e.synonyms, synonym(def.Name, v, kmsg.ConfigSourceDynamicTopicConfig))
			}
		}
		if synonyms && def.Broker != "" {
			e.synonyms = append(e.synonyms, brokerSynonyms(def, value, broker)...)
		}
		entries = append(entries, e)
	}
	return entries
}

// brokerSynonyms are the synonyms of a topic config's broker-level
// default: the node's setting, when it has one, then Kafka's default.
func brokerSynonyms(def topicconfig.Def, value string, broker bool) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	out := make([]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, 0, 2)
	if broker {
		out = append(out, synonym(def.Broker, value, kmsg.ConfigSourceStaticBrokerConfig))
	}
	return append(out, synonym(def.Broker, def.Default, kmsg.ConfigSourceDefaultConfig))
}

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name = name
	s.Value = strPtr(value)
	s.Source = src
	return s
}

// brokerConfigEntries lists this node's configs: its static settings and
// the broker-level defaults of the topic configs (the node's, from its
// flags, else Kafka's). All are read-only.
func (s *Server) brokerConfigEntries(synonyms bool) []configEntry {
	advertised := cluster.FormatListeners(s.endpoints())
	var rack *string
	if s.cfg.Rack != "" {
		rack = strPtr(s.cfg.Rack)
	}
	static := []struct {
		name  string
		typ   kmsg.ConfigType
		value *string
		doc   string
	}{
		{"advertised.listeners", kmsg.ConfigTypeString, strPtr(advertised), "Address clients connect to."},
		{"auto.create.topics.enable", kmsg.ConfigTypeBoolean, strPtr(strconv.FormatBool(s.cfg.AutoCreateTopics)), "Whether unknown topics are created on Metadata requests."},
		{"broker.id", kmsg.ConfigTypeInt, strPtr(strconv.Itoa(int(s.cfg.NodeID))), "Broker id of this node."},
		{"broker.rack", kmsg.ConfigTypeString, rack, "Rack of this node."},
		{"connections.max.idle.ms", kmsg.ConfigTypeLong, strPtr(strconv.FormatInt(s.cfg.IdleTimeout.Milliseconds(), 10)), "Idle connections are closed after this long."},
		{"default.replication.factor", kmsg.ConfigTypeInt, strPtr("1"), "Data is replicated by the object store; every partition has one replica."},
		{"listeners", kmsg.ConfigTypeString, strPtr("PLAINTEXT://" + s.cfg.ListenAddress), "Address the listener binds."},
		{"node.id", kmsg.ConfigTypeInt, strPtr(strconv.Itoa(int(s.cfg.NodeID))), "Node id of this node."},
		{"num.partitions", kmsg.ConfigTypeInt, strPtr(strconv.Itoa(int(s.cfg.DefaultPartitions))), "Partitions of auto-created topics."},
		{"socket.request.max.bytes", kmsg.ConfigTypeInt, strPtr(strconv.Itoa(s.cfg.MaxRequestBytes)), "Largest request accepted."},
	}
	entries := make([]configEntry, 0, len(static)+32)
	for _, st := range static {
		e := configEntry{name: st.name, typ: st.typ, doc: st.doc, value: st.value, source: kmsg.ConfigSourceStaticBrokerConfig, readOnly: true}
		if synonyms && st.value != nil {
			e.synonyms = append(e.synonyms, synonym(st.name, *st.value, kmsg.ConfigSourceStaticBrokerConfig))
		}
		entries = append(entries, e)
	}
	seen := map[string]bool{}
	for def := range topicconfig.All() {
		if def.Broker == "" || seen[def.Broker] {
			continue
		}
		seen[def.Broker] = true
		value, broker := s.cfg.TopicDefaults.Value(def.Name)
		e := configEntry{name: def.Broker, typ: def.Type, doc: def.Doc, value: strPtr(value), source: kmsg.ConfigSourceDefaultConfig, readOnly: true}
		if broker {
			e.source = kmsg.ConfigSourceStaticBrokerConfig
		}
		if synonyms {
			e.synonyms = brokerSynonyms(def, value, broker)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return entries
}

// describeEntries renders entries for DescribeConfigs, keeping only names
// when it is not nil.
func describeEntries(entries []configEntry, names []string, version int16, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(entries))
	for _, e := range entries {
		if names != nil && !slices.Contains(names, e.name) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = e.name
		c.Value = e.value
		c.ReadOnly = e.readOnly
		c.Source = e.source
		if version == 0 {
			c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
		}
		c.ConfigSynonyms = e.synonyms
		c.ConfigType = e.typ
		if docs && e.doc != "" {
			c.Documentation = strPtr(e.doc)
		}
		out = append(out, c)
	}
	return out
}

func strPtr(s string) *string { return &s }
