package topicconfig

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Broker holds the node's settings that Kafka calls broker configs and
// that are the defaults of topic configs: what a topic that does not set
// its own gets. They are the compactor's flags, which every node parses,
// so that every node reports what the compactor enforces.
type Broker struct {
	// Retention is log.retention.ms (-compactor.retention), the default
	// of retention.ms; negative keeps records forever.
	Retention time.Duration
	// RetentionBytes is log.retention.bytes (-compactor.retention-bytes),
	// the default of retention.bytes; negative is no limit.
	RetentionBytes int64
	// DeleteRetention is log.cleaner.delete.retention.ms
	// (-compactor.delete-retention), the default of delete.retention.ms.
	DeleteRetention time.Duration
	// MinCleanableDirtyRatio is log.cleaner.min.cleanable.ratio
	// (-compactor.min-cleanable-dirty-ratio), the default of
	// min.cleanable.dirty.ratio.
	MinCleanableDirtyRatio float64
}

// KafkaBroker returns Kafka's defaults of the Broker settings (and of the
// compactor's flags).
func KafkaBroker() Broker {
	return Broker{Retention: 7 * 24 * time.Hour, RetentionBytes: -1, DeleteRetention: 24 * time.Hour, MinCleanableDirtyRatio: 0.5}
}

// Defaults are the values a node gives the topic configs a topic does not
// set: Kafka's defaults, except those the node's settings change. The zero
// value is Kafka's defaults.
type Defaults struct {
	// broker holds, by topic config name, the node's values that differ
	// from Kafka's defaults; every one passes the config's check.
	broker map[string]string
	// base is the Policy of a topic that sets nothing; nil: kafkaPolicy.
	base *Policy
}

// NewDefaults returns the defaults of a node with settings b. It fails
// for a setting that is not a valid value of its topic config.
func NewDefaults(b Broker) (Defaults, error) {
	if b.DeleteRetention < 0 {
		return Defaults{}, fmt.Errorf("topicconfig: log.cleaner.delete.retention.ms %s is negative", b.DeleteRetention)
	}
	values := []struct{ name, value string }{
		{"retention.ms", strconv.FormatInt(millis(b.Retention), 10)},
		{"retention.bytes", strconv.FormatInt(max(b.RetentionBytes, -1), 10)},
		{"delete.retention.ms", strconv.FormatInt(b.DeleteRetention.Milliseconds(), 10)},
		{"min.cleanable.dirty.ratio", strconv.FormatFloat(b.MinCleanableDirtyRatio, 'g', -1, 64)},
	}
	d := Defaults{broker: make(map[string]string, len(values))}
	p := kafkaPolicy
	for _, v := range values {
		def := index[v.name]
		if err := p.set(def, v.value); err != nil {
			return Defaults{}, fmt.Errorf("topicconfig: default of %s (%s): %w", def.Name, def.Broker, err)
		}
		if v.value != def.Default {
			d.broker[v.name] = v.value
		}
	}
	d.base = &p
	return d, nil
}

// millis converts a retention to Kafka's milliseconds, any negative one
// being -1 (forever).
func millis(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// Value returns the default of the topic config named name on this node,
// and whether it is a broker-level setting of the node (Kafka's source
// STATIC_BROKER_CONFIG) rather than Kafka's default. A setting equal to
// Kafka's default is reported as the default. An unknown name is "".
func (d Defaults) Value(name string) (value string, broker bool) {
	if v, ok := d.broker[name]; ok {
		return v, true
	}
	if def, ok := index[name]; ok {
		return def.Default, false
	}
	return "", false
}

// Policy returns the policy of a topic whose own configs are configs: the
// value of each config the topic sets, else this node's default. A value
// that does not pass Check (one written around the front door) is ignored
// for the default; the error, when not nil, lists the ones ignored.
func (d Defaults) Policy(configs map[string]string) (Policy, error) {
	p := kafkaPolicy
	if d.base != nil {
		p = *d.base
	}
	if len(configs) == 0 {
		return p, nil
	}
	var errs []error
	for _, def := range policyDefs {
		if v, ok := configs[def.Name]; ok {
			if err := p.set(def, v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return p, errors.Join(errs...)
}
