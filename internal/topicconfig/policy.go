package topicconfig

import (
	"slices"
	"strconv"
	"strings"
)

// Policy is what a topic's configs ask of the node, typed: the topic's own
// configs over the node's Defaults. The produce path admits batches by it
// and the compactor applies it.
type Policy struct {
	// Delete and Compact are cleanup.policy: delete applies retention,
	// compact keeps the last record of each key (and refuses records
	// without one).
	Delete, Compact bool
	// RetentionMs is retention.ms: records older go. Negative keeps them
	// forever.
	RetentionMs int64
	// RetentionBytes is retention.bytes: the oldest records go while the
	// rest of the partition holds at least this many bytes. Negative is
	// no limit.
	RetentionBytes int64
	// DeleteRetentionMs is delete.retention.ms: how long a tombstone stays
	// in a compacted topic.
	DeleteRetentionMs int64
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio: a compacted
	// partition is cleaned once the bytes written since its last cleaning
	// are this share of its bytes.
	MinCleanableDirtyRatio float64
	// MaxMessageBytes is max.message.bytes: the largest record batch.
	MaxMessageBytes int
	// LogAppendTime: message.timestamp.type is LogAppendTime, so batches
	// carry the broker's time.
	LogAppendTime bool
}

// policyDefs are the configs a Policy holds.
var policyDefs = func() []*Def {
	var out []*Def
	for _, name := range []string{"cleanup.policy", "retention.ms", "retention.bytes", "delete.retention.ms",
		"min.cleanable.dirty.ratio", "max.message.bytes", "message.timestamp.type"} {
		out = append(out, index[name])
	}
	return out
}()

// kafkaPolicy is the Policy of a topic that sets nothing, with Kafka's
// defaults.
var kafkaPolicy = func() Policy {
	var p Policy
	for _, def := range policyDefs {
		if err := p.set(def, def.Default); err != nil {
			panic(err) // a default that fails its own check
		}
	}
	return p
}()

// set sets the field of config def to value v, when v passes the config's
// check; otherwise it returns the check's error and changes nothing.
func (p *Policy) set(def *Def, v string) error {
	if err := def.checkValue(v); err != nil {
		return err
	}
	// v passed the check: the parses below cannot fail.
	long := func() int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n
	}
	switch def.Name {
	case "cleanup.policy":
		items := SplitList(v)
		p.Delete, p.Compact = slices.Contains(items, Delete), slices.Contains(items, Compact)
	case "retention.ms":
		p.RetentionMs = long()
	case "retention.bytes":
		p.RetentionBytes = long()
	case "delete.retention.ms":
		p.DeleteRetentionMs = long()
	case "min.cleanable.dirty.ratio":
		p.MinCleanableDirtyRatio, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
	case "max.message.bytes":
		p.MaxMessageBytes = int(long())
	case "message.timestamp.type":
		p.LogAppendTime = v == LogAppendTime
	}
	return nil
}
