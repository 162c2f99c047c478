// Package metastore defines Strata's durable metadata: topics, partitions,
// the chunk index into segment objects, and idempotent-producer state.
//
// The types and the Store interface here are implemented by metastore/postgres
// (production) and metastore/sqlite (strata dev). Both pass the conformance
// suite in metastore/metastoretest. The sequence and offset arithmetic of a
// segment commit lives in this package (PlanCommit) so that both backends
// share it; a backend only loads state, calls PlanCommit and writes the plan.
package metastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Sentinel errors. The Kafka front door maps them to Kafka error codes.
var (
	ErrTopicExists          = errors.New("metastore: topic already exists")
	ErrInvalidTopic         = errors.New("metastore: invalid topic name")
	ErrUnknownTopic         = errors.New("metastore: unknown topic")
	ErrUnknownPartition     = errors.New("metastore: unknown partition")
	ErrInvalidPartitions    = errors.New("metastore: invalid partition count")
	ErrOffsetOutOfRange     = errors.New("metastore: offset out of range")
	ErrOutOfOrderSequence   = errors.New("metastore: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("metastore: producer epoch fenced")
	ErrUnknownProducerID    = errors.New("metastore: unknown producer id")
)

// MaxTopicNameLength is the longest topic name Kafka accepts.
const MaxTopicNameLength = 249

// ValidateTopicName applies Kafka's topic name rules: 1 to 249 characters
// from [a-zA-Z0-9._-], and neither "." nor "..". The error wraps
// ErrInvalidTopic.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is reserved", ErrInvalidTopic, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: name longer than %d characters", ErrInvalidTopic, MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q; legal characters are [a-zA-Z0-9._-]", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

// NoProducerID marks a batch written by a non-idempotent producer.
const NoProducerID int64 = -1

// Topic is a named log split into partitions.
type Topic struct {
	ID         uuid.UUID
	Name       string
	Partitions int32
	Configs    map[string]string
	CreatedAt  time.Time
}

// Partition is one partition's offsets and leadership.
type Partition struct {
	TopicID        uuid.UUID
	Partition      int32
	LogStartOffset int64 // first offset still readable
	NextOffset     int64 // high watermark: the offset the next record gets
	LeaderNode     int32 // -1 when unassigned
	LeaderEpoch    int32
}

// BatchMeta describes one Kafka record batch inside a chunk, in chunk order.
type BatchMeta struct {
	OffsetCount   int32 // lastOffsetDelta + 1: offsets the batch occupies
	MaxTimestamp  int64
	ProducerID    int64 // NoProducerID when not idempotent
	ProducerEpoch int16
	BaseSequence  int32
	// Transactional is the batch's transactional attribute: its records
	// belong to a transaction of ProducerID and count only once a commit
	// marker for it follows in the partition.
	Transactional bool
	// Control is what a control batch marks (ControlNone for records):
	// the end of ProducerID's transaction in the partition.
	Control ControlType
}

// ControlType is the kind of a control batch, from its control record's
// key: Kafka's type 0 is an abort marker, 1 a commit marker.
type ControlType int8

const (
	ControlNone   ControlType = iota // a batch of records
	ControlAbort                     // the transaction's records are discarded
	ControlCommit                    // the transaction's records become visible
)

// ChunkSpec is one partition's chunk of a segment object, as the ingest path
// commits it. Offsets are not known yet: the commit assigns them.
type ChunkSpec struct {
	TopicID   uuid.UUID
	Partition int32
	Start     int64 // byte offset of the chunk in the object
	Length    int64 // compressed length
	RawLength int64 // uncompressed length of the batches
	Batches   []BatchMeta
}

// SegmentSpec is one sealed, uploaded segment object to commit.
type SegmentSpec struct {
	ObjectKey  string
	ObjectSize int64
	Chunks     []ChunkSpec // at most one chunk per (topic, partition)
}

// BatchResult is the outcome of one batch of a committed chunk.
type BatchResult struct {
	// BaseOffset is the batch's first offset: newly assigned, or, for a
	// retried duplicate, the offset it got the first time.
	BaseOffset int64
	Duplicate  bool  // a retry of a batch already committed; not stored again
	Err        error // ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ...: batch not stored
}

// ChunkResult is the outcome for one ChunkSpec, in the same order.
type ChunkResult struct {
	Err     error // ErrUnknownTopic / ErrUnknownPartition: nothing of the chunk stored
	Batches []BatchResult
	// LogAppendTime is the commit time in ms, for topics that use it.
	LogAppendTime int64
}

// Chunk is a row of the chunk index: a range of offsets of one partition
// stored in a byte range of an object.
type Chunk struct {
	TopicID      uuid.UUID
	Partition    int32
	BaseOffset   int64 // first offset in the chunk
	EndOffset    int64 // one past the last offset (exclusive)
	ObjectKey    string
	ObjectSize   int64
	Level        int16 // 0: relative offsets, written by ingest; 1: absolute, by the compactor
	Start        int64
	Length       int64
	RawLength    int64
	BatchCount   int32
	MaxTimestamp int64
	// Skip lists indices of batches in the object's chunk that are not part of
	// the log (rejected or duplicate retries). Usually empty.
	Skip []int32
}

// Store is the metadata interface shared by all roles.
type Store interface {
	ScramStore
	TxnIndexStore
	TxnStore // transactional ids (metastore/txn.go)

	// CreateTopic creates a topic with n partitions and returns it. It
	// returns ErrInvalidTopic for a name ValidateTopicName refuses,
	// ErrInvalidPartitions when n < 1, ErrTopicExists when the name is taken.
	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (Topic, error)
	// TopicByName and TopicByID return ErrUnknownTopic when absent.
	TopicByName(ctx context.Context, name string) (Topic, error)
	TopicByID(ctx context.Context, id uuid.UUID) (Topic, error)
	// ListTopics returns every topic, ordered by name.
	ListTopics(ctx context.Context) ([]Topic, error)
	// DeleteTopic removes the topic, its partitions, its chunk rows and its
	// producer state; ErrUnknownTopic when absent. Object rows stay.
	DeleteTopic(ctx context.Context, name string) error
	// CreatePartitions raises a topic's partition count to total;
	// ErrInvalidPartitions unless total exceeds the current count.
	CreatePartitions(ctx context.Context, name string, total int32) error
	// SetTopicConfigs replaces (set) and removes (value nil) topic configs;
	// ErrUnknownTopic when absent.
	SetTopicConfigs(ctx context.Context, name string, set map[string]*string) error

	// Partitions returns the partitions of a topic, ordered by number;
	// ErrUnknownTopic when absent. New partitions have LeaderNode -1.
	Partitions(ctx context.Context, topicID uuid.UUID) ([]Partition, error)
	// Partition returns one partition; ErrUnknownPartition when absent.
	Partition(ctx context.Context, topicID uuid.UUID, partition int32) (Partition, error)

	// CommitSegment records an uploaded object and its chunks in one
	// transaction: offsets are assigned from each partition's NextOffset,
	// producer sequences are checked and advanced. An error return means
	// nothing was committed; per-chunk and per-batch errors are in the result.
	// It wraps ErrObjectClaimed when the orphan collection claimed the
	// object's key (CompactionStore.ClaimOrphans), ErrObjectExists when the
	// key was committed already.
	CommitSegment(ctx context.Context, seg SegmentSpec) ([]ChunkResult, error)

	// ChunksFrom returns up to limit chunks of a partition whose EndOffset is
	// greater than offset, in offset order. It returns ErrUnknownPartition
	// when the partition does not exist, ErrOffsetOutOfRange when offset is
	// below LogStartOffset or above NextOffset, and no chunks at NextOffset.
	ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) ([]Chunk, error)
	// ChunkForTimestamp returns the first chunk whose MaxTimestamp >= ts, or
	// ok=false when no chunk qualifies; ErrUnknownPartition when the
	// partition does not exist.
	ChunkForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (c Chunk, ok bool, err error)

	// DeleteRecords advances a partition's log start offset to offset (-1:
	// the high watermark), as Kafka's DeleteRecords does, and returns the new
	// log start offset. It never moves the log start back. An offset above
	// the high watermark is ErrOffsetOutOfRange. Chunks wholly below the log
	// start are dropped later by the compactor; reads below it fail at once.
	DeleteRecords(ctx context.Context, topicID uuid.UUID, partition int32, offset int64) (int64, error)

	// AllocateProducerID returns a new, never used producer id, and
	// registers it: until it expires, its first batch on every partition
	// must have sequence 0 (see PlanCommit).
	AllocateProducerID(ctx context.Context) (int64, error)
	// ExpireProducers forgets the producers that have written nothing for
	// idle (Kafka's producer.id.expiration.ms), by the metastore's clock:
	// their registration and their sequence state on every partition. It
	// returns how many producers it forgot. An expired producer's next
	// batch is taken at any sequence, as Kafka takes one whose state it
	// no longer holds; its retries are no longer recognised.
	ExpireProducers(ctx context.Context, idle time.Duration) (int, error)

	ACLStore
	ClientQuotaStore
	ConsumerGroupStore
	ShareStore

	Close()
}
