// Package topicconfig is the one home of Kafka's topic configs in Strata:
// which exist, their types, Kafka's defaults and broker synonyms, the rules
// their values follow (Check), the defaults a node applies when a topic
// sets none (Defaults, Kafka's unless the node's flags say otherwise), and
// the typed settings the data path and the compactor act on (Policy).
//
// The front door checks the configs clients set and reports the effective
// values (DescribeConfigs); the produce path admits batches by the
// topic's Policy; the compactor applies its retention and compaction
// settings. All three read them here, so that what a client is shown is
// what the node enforces.
//
// The package imports nothing of Strata's.
package topicconfig

import (
	"iter"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Def is a topic config Strata knows.
type Def struct {
	Name string
	Type kmsg.ConfigType
	// Default is Kafka's default value.
	Default string
	// Broker is the broker config that supplies the default (Kafka's
	// synonym, log.retention.ms for retention.ms), empty when none.
	Broker string
	// Doc is the documentation DescribeConfigs returns.
	Doc string

	check func(string) error
}

const maxLong = "9223372036854775807"

// defs are the topic configs accepted by CreateTopics and the AlterConfigs
// APIs and listed by DescribeConfigs, ordered by name, with Kafka's
// defaults.
var defs = []Def{
	{"cleanup.policy", kmsg.ConfigTypeList, "delete", "log.cleanup.policy", "Retention policy of old segments: delete, compact, or both.", listOf(Delete, Compact)},
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
	{"message.timestamp.type", kmsg.ConfigTypeString, "CreateTime", "log.message.timestamp.type", "Whether record timestamps are the producer's (CreateTime) or the append time (LogAppendTime).", oneOf("CreateTime", LogAppendTime)},
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

var index = func() map[string]*Def {
	m := make(map[string]*Def, len(defs))
	for i := range defs {
		m[defs[i].Name] = &defs[i]
	}
	return m
}()

// Lookup returns the topic config named name, or false when Strata does not
// know it.
func Lookup(name string) (Def, bool) {
	d, ok := index[name]
	if !ok {
		return Def{}, false
	}
	return *d, true
}

// All yields every topic config, ordered by name.
func All() iter.Seq[Def] {
	return func(yield func(Def) bool) {
		for i := range defs {
			if !yield(defs[i]) {
				return
			}
		}
	}
}

// Values of message.timestamp.type and cleanup.policy the node acts on.
const (
	LogAppendTime = "LogAppendTime"
	Delete        = "delete"
	Compact       = "compact"
)

// maxInt is the largest value of an int config (a Java int).
const maxInt = math.MaxInt32
