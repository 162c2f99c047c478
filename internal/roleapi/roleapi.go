// Package roleapi is the vocabulary that the Kafka front door and the
// roles behind it share: what a produce hands to the produce path and gets
// back, what a read returns, the errors of both, and the client a request
// came from. The front door (internal/kafka) declares the small interfaces
// it needs in these terms and the roles (ingest, reader, internal/groups)
// implement them, so that neither imports the other: internal/app, which
// knows every role, wires them. A leaf: it imports nothing of ours but
// internal/recordbatch.
package roleapi

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// PartitionRecords is one partition's records field of a Produce request:
// one or more Kafka v2 record batches.
type PartitionRecords struct {
	TopicID   uuid.UUID
	Partition int32
	Records   []byte
	// Admission is what the topic asks of the batches.
	Admission Admission
}

// Admission is what a topic asks of the batches produced to it. The front
// door fills it from the topic's configuration and the request.
type Admission struct {
	// MaxBatchBytes is the topic's max.message.bytes: a larger batch is
	// ErrBatchTooLarge. 0: no bound.
	MaxBatchBytes int
	// RequireKeys refuses records without a key, as Kafka does for topics
	// whose cleanup.policy includes compact.
	RequireKeys bool
	// LogAppendTime, when positive, is written into every batch as the
	// broker's append time (ms), for topics whose message.timestamp.type
	// is LogAppendTime.
	LogAppendTime int64
	// NoZstd refuses zstd batches: requests before Produce v7.
	NoZstd bool
	// Transactional admits transactional batches: the produce named a
	// transactional id whose transaction holds the partition. Otherwise
	// they are refused (ErrUnsupportedBatch).
	Transactional bool
}

// PartitionResult is the outcome of one PartitionRecords.
type PartitionResult struct {
	Err           error
	BaseOffset    int64 // offset of the first record; -1 on error
	LogAppendTime int64 // commit time, ms
}

// Pending is a produce waiting for its commit.
type Pending interface {
	// Wait blocks until the commit and returns one result per
	// PartitionRecords given; if ctx ends first, the results say so, but
	// the records may still be committed.
	Wait(ctx context.Context) []PartitionResult
	// ThrottleTime is how long the produce waited for the memory budget;
	// Kafka reports it as throttle_time_ms.
	ThrottleTime() time.Duration
}

// Errors of the produce path, returned in PartitionResult.Err. The front
// door maps each to its Kafka error code.
var (
	// ErrCorruptBatch: a batch failed its checks (CRC, lengths) or does
	// not decompress (CORRUPT_MESSAGE).
	ErrCorruptBatch = errors.New("ingest: corrupt record batch")
	// ErrUnsupportedBatch: a control batch or a transactional batch
	// (INVALID_RECORD).
	ErrUnsupportedBatch = errors.New("ingest: unsupported record batch")
	// ErrOldFormat: a message set older than v2 record batches
	// (UNSUPPORTED_FOR_MESSAGE_FORMAT).
	ErrOldFormat = errors.New("ingest: message format older than v2 record batches")
	// ErrBatchTooLarge: larger than the topic's max.message.bytes, or
	// records that decompress to more than the node allows
	// (MESSAGE_TOO_LARGE).
	ErrBatchTooLarge = errors.New("ingest: record batch too large")
	// ErrUnsupportedCompression: zstd in a request older than Produce v7
	// (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCompression = errors.New("ingest: unsupported compression")
	// ErrInvalidRecords: records that do not parse, that disagree with
	// the batch's records count and lastOffsetDelta, or a record without a
	// key on a compacted topic (INVALID_RECORD).
	ErrInvalidRecords = errors.New("ingest: invalid records")
	// ErrUploadFailed and ErrCommitFailed are retriable: nothing of the
	// segment became readable (KAFKA_STORAGE_ERROR).
	ErrUploadFailed = errors.New("ingest: segment upload failed")
	ErrCommitFailed = errors.New("ingest: segment commit failed")
	// ErrClosed: the produce path is shutting down; clients look for the
	// partition's leader again (NOT_LEADER_OR_FOLLOWER).
	ErrClosed = errors.New("ingest: closed")
)

// ReadResult is what a read of one partition found.
type ReadResult struct {
	// Records holds whole record batches, with absolute offsets.
	Records []byte
	// Batches holds the same batches as references to the reader's cache,
	// for reads that write them out themselves.
	Batches        Batches
	HighWatermark  int64
	LogStartOffset int64
	// LastStableOffset is the first offset of the oldest open transaction,
	// else the high watermark: where a read_committed read stops. A
	// read_uncommitted read reports the high watermark.
	LastStableOffset int64
	// Aborted are, for a read_committed read, the aborted transactions
	// whose records the batches read may hold.
	Aborted []AbortedTxn
}

// AbortedTxn is an aborted transaction of a partition: its producer and
// first offset, as Fetch reports them.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
}

// Watch is a partition a long poll waits on: it wakes when the high
// watermark is above Offset.
type Watch struct {
	TopicID   uuid.UUID
	Partition int32
	Offset    int64
	// Committed: the watch wakes when the last stable offset, not the
	// high watermark, is above Offset (read_committed).
	Committed bool
}

// ErrCorrupt is a read's error for stored data that fails its checks, or a
// chunk index that skips offsets (KAFKA_STORAGE_ERROR).
var ErrCorrupt = errors.New("reader: corrupt chunk")

// Client identifies the client connection of a request: the consumer
// group coordinator records it for DescribeGroups.
type Client struct {
	ID   string // the client id of the request header
	Host string // the client's address
}

type clientKey struct{}

// WithClient returns ctx carrying the client of a request.
func WithClient(ctx context.Context, client Client) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientFrom returns the client WithClient attached to ctx, if any.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}
