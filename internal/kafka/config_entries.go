package kafka

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configDef is a topic config Strata knows, with Kafka's default.
type configDef struct {
	name     string
	typ      kmsg.ConfigType
	def      string
	broker   string // the broker config that supplies the default, if any
	doc      string
	validate func(string) error
}

const maxLong = "9223372036854775807"

// topicConfigDefs are the topic configs accepted by CreateTopics and the
// AlterConfigs APIs and listed by DescribeConfigs, with Kafka's defaults.
var topicConfigDefs = []configDef{
	{"cleanup.policy", kmsg.ConfigTypeList, "delete", "log.cleanup.policy", "Retention policy of old segments: delete, compact, or both.", listOf("delete", "compact")},
	{"compression.gzip.level", kmsg.ConfigTypeInt, "-1", "compression.gzip.level", "Compression level for gzip.", intIn(-1, 9, 0)},
	{"compression.lz4.level", kmsg.ConfigTypeInt, "9", "compression.lz4.level", "Compression level for lz4.", intIn(1, 17)},
	{"compression.type", kmsg.ConfigTypeString, "producer", "compression.type", "Final compression of the topic's data; producer keeps the producer's.", oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")},
	{"compression.zstd.level", kmsg.ConfigTypeInt, "3", "compression.zstd.level", "Compression level for zstd.", intIn(-131072, 22)},
	{"delete.retention.ms", kmsg.ConfigTypeLong, "86400000", "log.cleaner.delete.retention.ms", "How long delete tombstones are retained on compacted topics.", longAtLeast(0)},
	{"file.delete.delay.ms", kmsg.ConfigTypeLong, "60000", "log.segment.delete.delay.ms", "Time to wait before deleting a file.", longAtLeast(0)},
	{"flush.messages", kmsg.ConfigTypeLong, maxLong, "log.flush.interval.messages", "Messages between forced flushes.", longAtLeast(1)},
	{"flush.ms", kmsg.ConfigTypeLong, maxLong, "log.flush.interval.ms", "Time between forced flushes.", longAtLeast(0)},
	{"follower.replication.throttled.replicas", kmsg.ConfigTypeList, "", "", "Replicas whose follower replication is throttled.", anyValue},
	{"index.interval.bytes", kmsg.ConfigTypeInt, "4096", "log.index.interval.bytes", "Bytes between offset index entries.", intAtLeast(0)},
	{"leader.replication.throttled.replicas", kmsg.ConfigTypeList, "", "", "Replicas whose leader replication is throttled.", anyValue},
	{"local.retention.bytes", kmsg.ConfigTypeLong, "-2", "log.local.retention.bytes", "Bytes of local segments retained when tiered storage is on.", longAtLeast(-2)},
	{"local.retention.ms", kmsg.ConfigTypeLong, "-2", "log.local.retention.ms", "Time local segments are retained when tiered storage is on.", longAtLeast(-2)},
	{"max.compaction.lag.ms", kmsg.ConfigTypeLong, maxLong, "log.cleaner.max.compaction.lag.ms", "Longest time a message stays ineligible for compaction.", longAtLeast(1)},
	{"max.message.bytes", kmsg.ConfigTypeInt, "1048588", "message.max.bytes", "Largest record batch size allowed.", intAtLeast(0)},
	{"message.timestamp.after.max.ms", kmsg.ConfigTypeLong, maxLong, "log.message.timestamp.after.max.ms", "Largest allowed amount a record timestamp may be ahead of the broker's time.", longAtLeast(0)},
	{"message.timestamp.before.max.ms", kmsg.ConfigTypeLong, maxLong, "log.message.timestamp.before.max.ms", "Largest allowed amount a record timestamp may be behind the broker's time.", longAtLeast(0)},
	{"message.timestamp.type", kmsg.ConfigTypeString, "CreateTime", "log.message.timestamp.type", "Whether record timestamps are the producer's (CreateTime) or the append time (LogAppendTime).", oneOf("CreateTime", "LogAppendTime")},
	{"min.cleanable.dirty.ratio", kmsg.ConfigTypeDouble, "0.5", "log.cleaner.min.cleanable.ratio", "Dirty ratio above which the log is compacted.", doubleIn(0, 1)},
	{"min.compaction.lag.ms", kmsg.ConfigTypeLong, "0", "log.cleaner.min.compaction.lag.ms", "Shortest time a message stays uncompacted.", longAtLeast(0)},
	{"min.insync.replicas", kmsg.ConfigTypeInt, "1", "min.insync.replicas", "Replicas that must acknowledge a write with acks=all.", intAtLeast(1)},
	{"preallocate", kmsg.ConfigTypeBoolean, "false", "log.preallocate", "Whether to preallocate segment files.", boolean},
	{"remote.storage.enable", kmsg.ConfigTypeBoolean, "false", "", "Whether tiered storage is enabled for the topic.", boolean},
	{"retention.bytes", kmsg.ConfigTypeLong, "-1", "log.retention.bytes", "Largest size of a partition before old data is deleted; -1 for no limit.", longAtLeast(-1)},
	{"retention.ms", kmsg.ConfigTypeLong, "604800000", "log.retention.ms", "Longest time data is retained before deletion; -1 for no limit.", longAtLeast(-1)},
	{"segment.bytes", kmsg.ConfigTypeInt, "1073741824", "log.segment.bytes", "Segment size.", intAtLeast(14)},
	{"segment.index.bytes", kmsg.ConfigTypeInt, "10485760", "log.index.size.max.bytes", "Offset index size.", intAtLeast(4)},
	{"segment.jitter.ms", kmsg.ConfigTypeLong, "0", "log.roll.jitter.ms", "Random jitter subtracted from segment.ms.", longAtLeast(0)},
	{"segment.ms", kmsg.ConfigTypeLong, "604800000", "log.roll.ms", "Time after which a segment is rolled.", longAtLeast(1)},
	{"unclean.leader.election.enable", kmsg.ConfigTypeBoolean, "false", "unclean.leader.election.enable", "Whether replicas not in sync may become leader.", boolean},
}

var topicConfigIndex = func() map[string]*configDef {
	m := make(map[string]*configDef, len(topicConfigDefs))
	for i := range topicConfigDefs {
		m[topicConfigDefs[i].name] = &topicConfigDefs[i]
	}
	return m
}()

// checkTopicConfig validates one topic config value.
func checkTopicConfig(name string, value *string) error {
	def, ok := topicConfigIndex[name]
	if !ok {
		return errorf(kerr.InvalidConfig, "unknown topic config %q", name)
	}
	if value == nil {
		return errorf(kerr.InvalidRequest, "null value for topic config %q", name)
	}
	if err := def.validate(*value); err != nil {
		return errorf(kerr.InvalidConfig, "invalid value %q for topic config %q: %v", *value, name, err)
	}
	return nil
}

// configEntry is one config as DescribeConfigs and CreateTopics report it.
type configEntry struct {
	def      *configDef
	value    *string
	source   kmsg.ConfigSource
	readOnly bool
	synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

// topicConfigEntries lists every topic config with its effective value,
// ordered by name. overrides are the topic's own configs.
func topicConfigEntries(overrides map[string]string, synonyms bool) []configEntry {
	entries := make([]configEntry, 0, len(topicConfigDefs))
	for i := range topicConfigDefs {
		def := &topicConfigDefs[i]
		e := configEntry{def: def, value: strPtr(def.def), source: kmsg.ConfigSourceDefaultConfig}
		if v, ok := overrides[def.name]; ok {
			e.value = strPtr(v)
			e.source = kmsg.ConfigSourceDynamicTopicConfig
			if synonyms {
				e.synonyms = append(e.synonyms, synonym(def.name, v, kmsg.ConfigSourceDynamicTopicConfig))
			}
		}
		if synonyms && def.broker != "" {
			e.synonyms = append(e.synonyms, synonym(def.broker, def.def, kmsg.ConfigSourceDefaultConfig))
		}
		entries = append(entries, e)
	}
	return entries
}

func synonym(name, value string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name = name
	s.Value = strPtr(value)
	s.Source = src
	return s
}

// brokerConfigEntries lists this node's configs: its static settings and
// the broker-level defaults of the topic configs. All are read-only.
func (s *Server) brokerConfigEntries() []configEntry {
	host, port := s.advertised()
	var rack *string
	if s.cfg.Rack != "" {
		rack = strPtr(s.cfg.Rack)
	}
	static := []configDef{
		{name: "advertised.listeners", typ: kmsg.ConfigTypeString, def: fmt.Sprintf("PLAINTEXT://%s", joinHostPort(host, port)), doc: "Address clients connect to."},
		{name: "auto.create.topics.enable", typ: kmsg.ConfigTypeBoolean, def: strconv.FormatBool(s.cfg.AutoCreateTopics), doc: "Whether unknown topics are created on Metadata requests."},
		{name: "broker.id", typ: kmsg.ConfigTypeInt, def: strconv.Itoa(int(s.cfg.NodeID)), doc: "Broker id of this node."},
		{name: "broker.rack", typ: kmsg.ConfigTypeString, doc: "Rack of this node."},
		{name: "connections.max.idle.ms", typ: kmsg.ConfigTypeLong, def: strconv.FormatInt(s.cfg.IdleTimeout.Milliseconds(), 10), doc: "Idle connections are closed after this long."},
		{name: "default.replication.factor", typ: kmsg.ConfigTypeInt, def: "1", doc: "Data is replicated by the object store; every partition has one replica."},
		{name: "listeners", typ: kmsg.ConfigTypeString, def: "PLAINTEXT://" + s.cfg.ListenAddress, doc: "Address the listener binds."},
		{name: "node.id", typ: kmsg.ConfigTypeInt, def: strconv.Itoa(int(s.cfg.NodeID)), doc: "Node id of this node."},
		{name: "num.partitions", typ: kmsg.ConfigTypeInt, def: strconv.Itoa(int(s.cfg.DefaultPartitions)), doc: "Partitions of auto-created topics."},
		{name: "socket.request.max.bytes", typ: kmsg.ConfigTypeInt, def: strconv.Itoa(s.cfg.MaxRequestBytes), doc: "Largest request accepted."},
	}
	entries := make([]configEntry, 0, len(static)+len(topicConfigDefs))
	for i := range static {
		def := &static[i]
		e := configEntry{def: def, value: strPtr(def.def), source: kmsg.ConfigSourceStaticBrokerConfig, readOnly: true}
		if def.name == "broker.rack" {
			e.value = rack
		}
		entries = append(entries, e)
	}
	seen := map[string]bool{}
	for i := range topicConfigDefs {
		td := &topicConfigDefs[i]
		if td.broker == "" || seen[td.broker] {
			continue
		}
		seen[td.broker] = true
		def := &configDef{name: td.broker, typ: td.typ, def: td.def, doc: td.doc}
		entries = append(entries, configEntry{def: def, value: strPtr(def.def), source: kmsg.ConfigSourceDefaultConfig, readOnly: true})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].def.name < entries[j].def.name })
	return entries
}

// describeEntries renders entries for DescribeConfigs, keeping only names
// when it is not nil.
func describeEntries(entries []configEntry, names []string, version int16, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(entries))
	for _, e := range entries {
		if names != nil && !slices.Contains(names, e.def.name) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = e.def.name
		c.Value = e.value
		c.ReadOnly = e.readOnly
		c.Source = e.source
		if version == 0 {
			c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
		}
		c.ConfigSynonyms = e.synonyms
		c.ConfigType = e.def.typ
		if docs && e.def.doc != "" {
			c.Documentation = strPtr(e.def.doc)
		}
		out = append(out, c)
	}
	return out
}

// Value validators.

func anyValue(string) error { return nil }

func boolean(v string) error {
	switch strings.ToLower(v) {
	case "true", "false":
		return nil
	}
	return errors.New("not a boolean")
}

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(allowed, v) {
			return nil
		}
		return fmt.Errorf("not one of %s", strings.Join(allowed, ", "))
	}
}

func listOf(allowed ...string) func(string) error {
	return func(v string) error {
		items := splitList(v)
		if len(items) == 0 {
			return errors.New("empty list")
		}
		for _, it := range items {
			if !slices.Contains(allowed, it) {
				return fmt.Errorf("%q is not one of %s", it, strings.Join(allowed, ", "))
			}
		}
		return nil
	}
}

func longAtLeast(lo int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return errors.New("not a long")
		}
		if n < lo {
			return fmt.Errorf("below %d", lo)
		}
		return nil
	}
}

func intAtLeast(lo int64) func(string) error { return intIn(lo, math.MaxInt32) }

// intIn accepts an int in [lo, hi] other than the except values.
func intIn(lo, hi int64, except ...int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return errors.New("not an int")
		}
		if slices.Contains(except, n) {
			return fmt.Errorf("%d not allowed", n)
		}
		if n < lo || n > hi {
			return fmt.Errorf("not in [%d, %d]", lo, hi)
		}
		return nil
	}
}

func doubleIn(lo, hi float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) {
			return errors.New("not a double")
		}
		if f < lo || f > hi {
			return fmt.Errorf("not in [%g, %g]", lo, hi)
		}
		return nil
	}
}

// splitList splits a list config value on commas, trimming blanks.
func splitList(v string) []string {
	var out []string
	for _, it := range strings.Split(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func strPtr(s string) *string { return &s }
