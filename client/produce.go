package client

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Offset is where an acknowledged record was stored.
type Offset struct {
	Partition int32
	Offset    int64
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// RecordOption sets an optional field of a produced record.
type RecordOption func(*kgo.Record)

// WithHeaders adds headers to the record.
func WithHeaders(headers ...Header) RecordOption {
	return func(r *kgo.Record) {
		for _, h := range headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
}

// WithPartition sends the record to the given partition instead of the one
// the key hash (or, without a key, the batching partitioner) picks.
func WithPartition(p int32) RecordOption {
	return func(r *kgo.Record) {
		r.Partition = p
		r.Context = context.WithValue(recordContext(r), explicitPartition{}, p)
	}
}

// WithTimestamp sets the record's timestamp (default: when it is produced).
func WithTimestamp(t time.Time) RecordOption {
	return func(r *kgo.Record) { r.Timestamp = t }
}

func recordContext(r *kgo.Record) context.Context {
	if r.Context != nil {
		return r.Context
	}
	return context.Background()
}

func newRecord(topic string, key, value []byte, opts []RecordOption) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: key, Value: value}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Produce sends one record and returns once the broker has acknowledged it:
// on Strata, once it is in object storage and its offset is committed in the
// metastore. A record with a key goes to the partition its key hashes to
// (Kafka's murmur2, as the Java client does).
//
// Produce waits for the whole round trip, up to the broker's PUT budget
// interval plus a PUT and a commit (a few milliseconds on strata dev);
// to send many records, call it from many goroutines or use ProduceAsync.
func (c *Client) Produce(ctx context.Context, topic string, key, value []byte, opts ...RecordOption) (Offset, error) {
	r := newRecord(topic, key, value, opts)
	res := c.kc.ProduceSync(ctx, r)
	if len(res) == 0 {
		return Offset{}, c.wrap("produce", topic, ErrClosed)
	}
	if err := res[0].Err; err != nil {
		return Offset{}, c.wrap("produce", topic, err)
	}
	return Offset{Partition: res[0].Record.Partition, Offset: res[0].Record.Offset}, nil
}

// ProduceAsync buffers one record and returns; done, if not nil, is called
// from another goroutine once the record is acknowledged or has failed.
// Callbacks for one partition run in offset order. ProduceAsync blocks while
// the client's buffer is full (see WithMaxBuffered) and fails the record if
// ctx ends first. Use Flush to wait for every callback.
func (c *Client) ProduceAsync(ctx context.Context, topic string, key, value []byte, done func(Offset, error), opts ...RecordOption) {
	r := newRecord(topic, key, value, opts)
	c.kc.Produce(ctx, r, func(r *kgo.Record, err error) {
		if done == nil {
			return
		}
		if err != nil {
			done(Offset{}, c.wrap("produce", topic, err))
			return
		}
		done(Offset{Partition: r.Partition, Offset: r.Offset}, nil)
	})
}

// explicitPartition keys a record context value set by WithPartition.
type explicitPartition struct{}

func explicitPartitionOf(r *kgo.Record) (int32, bool) {
	if r.Context == nil {
		return 0, false
	}
	p, ok := r.Context.Value(explicitPartition{}).(int32)
	return p, ok
}

// partitioner is franz-go's default partitioner (uniform bytes, adaptive,
// murmur2 for keys) except for records sent WithPartition.
type partitioner struct{ inner kgo.Partitioner }

func newPartitioner() kgo.Partitioner {
	return partitioner{inner: kgo.UniformBytesPartitioner(64<<10, true, true, nil)}
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	inner := p.inner.ForTopic(topic)
	backup, _ := inner.(kgo.TopicBackupPartitioner)
	return &topicPartitioner{inner: inner, backup: backup}
}

// topicPartitioner implements kgo.TopicBackupPartitioner, so franz-go always
// calls PartitionByBackup; Partition only completes the interface.
type topicPartitioner struct {
	inner  kgo.TopicPartitioner
	backup kgo.TopicBackupPartitioner // inner, when it partitions by backlog
}

func (t *topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	if _, ok := explicitPartitionOf(r); ok {
		return true
	}
	return t.inner.RequiresConsistency(r)
}

func (t *topicPartitioner) Partition(r *kgo.Record, n int) int {
	if p, ok := explicitPartitionOf(r); ok {
		return int(p)
	}
	return t.inner.Partition(r, n)
}

func (t *topicPartitioner) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if p, ok := explicitPartitionOf(r); ok {
		return int(p)
	}
	if t.backup == nil {
		return t.inner.Partition(r, n)
	}
	return t.backup.PartitionByBackup(r, n, it)
}
