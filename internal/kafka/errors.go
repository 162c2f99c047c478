package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// wireError is an error that carries its Kafka error code, raised by the
// handlers themselves (an invalid config, a bad topic name, ...).
type wireError struct {
	code *kerr.Error
	msg  string
}

func (e *wireError) Error() string { return e.msg }
func (e *wireError) Unwrap() error { return e.code }

// errorf returns an error answered with code and the formatted message.
func errorf(code *kerr.Error, format string, args ...any) error {
	return &wireError{code: code, msg: fmt.Sprintf(format, args...)}
}

// Errors become Kafka error codes here, and only here. There are two kinds.
//
// Definitive answers: the handlers' own errors (wireError, *kerr.Error) and
// the sentinels below, such as an unknown topic or a fenced producer epoch.
// They are answered with their code and message.
//
// Everything else is a failure of a collaborator: the metastore or the
// object store failed, timed out or could not be reached (a PostgreSQL
// restart, a network partition). Nothing about the request is wrong, and
// the same request may well succeed in a moment, so each API answers with
// the code that the clients (the Java client, librdkafka, franz-go) retry
// for that API, never UNKNOWN_SERVER_ERROR, which they treat as fatal:
//
//   - Metadata: LEADER_NOT_AVAILABLE for the topic, with no partitions.
//     librdkafka ignores such a topic entry as a temporary error, the Java
//     client refreshes its metadata (an InvalidMetadataException) and
//     franz-go retries without counting it as an unknown topic. A request
//     for every topic whose listing fails closes the connection instead
//     (v0-v12 have no top-level error, and franz-go fails a whole request
//     on a v13 top-level error); every client retries a lost connection.
//   - Produce, Fetch, ListOffsets, OffsetForLeaderEpoch: KAFKA_STORAGE_ERROR,
//     retried by every client after a metadata refresh. (The Java consumer
//     treats REQUEST_TIMED_OUT on a fetch partition as an unexpected,
//     fatal error, so timeouts are answered KAFKA_STORAGE_ERROR too.)
//   - CreateTopics, DeleteTopics, CreatePartitions: NOT_CONTROLLER, the
//     answer of a controller that cannot act: the Java admin client and
//     franz-go look the controller up again and retry the request.
//     Not REQUEST_TIMED_OUT: librdkafka reports that as success for these
//     three unless an operation timeout is set (the topic change is "in
//     progress"), which is untrue here.
//   - DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
//     DeleteRecords: REQUEST_TIMED_OUT, retriable in every client (the
//     Java client's TimeoutException is a RetriableException); none of
//     them retries these APIs' per-resource errors by itself.
//   - InitProducerId: COORDINATOR_LOAD_IN_PROGRESS, which the Java producer
//     re-enqueues as is (COORDINATOR_NOT_AVAILABLE would send an idempotent
//     producer looking for a transaction coordinator, and the other codes
//     but CONCURRENT_TRANSACTIONS are fatal to it); franz-go and librdkafka
//     retry any code that is not fatal.
//   - FindCoordinator answers COORDINATOR_NOT_AVAILABLE, retried by every
//     client, when no live node coordinates groups; it reads no metastore.
//
// These answers carry a fixed message: the underlying error is logged
// (at most once a second per API), never sent, since its text may name
// hosts and users.
var unavailable = map[string]*kerr.Error{
	"Metadata":                kerr.LeaderNotAvailable,
	"Produce":                 kerr.KafkaStorageError,
	"Fetch":                   kerr.KafkaStorageError,
	"ListOffsets":             kerr.KafkaStorageError,
	"OffsetForLeaderEpoch":    kerr.KafkaStorageError,
	"DescribeProducers":       kerr.KafkaStorageError,
	"CreateTopics":            kerr.NotController,
	"DeleteTopics":            kerr.NotController,
	"CreatePartitions":        kerr.NotController,
	"DescribeConfigs":         kerr.RequestTimedOut,
	"AlterConfigs":            kerr.RequestTimedOut,
	"IncrementalAlterConfigs": kerr.RequestTimedOut,
	"DeleteRecords":           kerr.RequestTimedOut,
	"InitProducerId":          kerr.CoordinatorLoadInProgress,
}

// unavailableMessage is the message of the answers to a collaborator's
// failure.
const unavailableMessage = "the metastore or object store is temporarily unavailable; retry"

// sentinels maps our sentinel errors to Kafka error codes.
var sentinels = []struct {
	err  error
	code *kerr.Error
}{
	{metastore.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{metastore.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
	{metastore.ErrTopicExists, kerr.TopicAlreadyExists},
	{metastore.ErrInvalidPartitions, kerr.InvalidPartitions},
	{metastore.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{metastore.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{metastore.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{metastore.ErrUnknownProducerID, kerr.UnknownProducerID},
	// The produce path. A segment that failed to upload or commit is not
	// readable: the producer retries (KAFKA_STORAGE_ERROR is retriable).
	{roleapi.ErrCorruptBatch, kerr.CorruptMessage},
	{roleapi.ErrUnsupportedBatch, kerr.InvalidRecord},
	{roleapi.ErrInvalidRecords, kerr.InvalidRecord},
	{roleapi.ErrOldFormat, kerr.UnsupportedForMessageFormat},
	{roleapi.ErrBatchTooLarge, kerr.MessageTooLarge},
	{roleapi.ErrUnsupportedCompression, kerr.UnsupportedCompressionType},
	{roleapi.ErrUploadFailed, kerr.KafkaStorageError},
	{roleapi.ErrCommitFailed, kerr.KafkaStorageError},
	// Shutting down: retriable, and tells the client to look for the
	// partition's leader again.
	{roleapi.ErrClosed, kerr.NotLeaderForPartition},
	// The fetch path: a chunk that does not decode is a storage fault.
	{roleapi.ErrCorrupt, kerr.KafkaStorageError},
}

// kafkaError returns the Kafka error for err when it is a definitive
// answer, or nil when it is not one we know.
func kafkaError(err error) *kerr.Error {
	if we, ok := err.(*wireError); ok {
		return we.code // the common case, without unwrapping
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return nil
}

// errorCode translates err to a Kafka error code for api: 0 for nil, the
// mapped code for definitive answers, the API's retriable code (see
// unavailable) for anything else.
func (s *Server) errorCode(api string, err error) int16 {
	if err == nil {
		return 0
	}
	if ke := kafkaError(err); ke != nil {
		return ke.Code // no message: a Metadata response may answer thousands
	}
	code, _ := s.errorCodeMessage(api, err)
	return code
}

// errorCodeMessage is errorCode with the message for responses that carry
// one.
func (s *Server) errorCodeMessage(api string, err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	if ke := kafkaError(err); ke != nil {
		msg := err.Error()
		return ke.Code, &msg
	}
	code, ok := unavailable[api]
	if !ok {
		code = kerr.RequestTimedOut // an API not listed: still retriable
	}
	if !errors.Is(err, context.Canceled) {
		// Canceled: the connection is closing and the answer is never
		// read.
		s.logUnavailable(api, err)
	}
	msg := unavailableMessage
	return code.Code, &msg
}

// dataErrorCode translates the errors of the produce and fetch paths; it
// is errorCodeMessage under the name those paths use.
func (s *Server) dataErrorCode(api string, err error) (int16, *string) {
	return s.errorCodeMessage(api, err)
}

// isUnavailable reports whether err is a collaborator's failure rather than
// a definitive answer.
func isUnavailable(err error) bool {
	return err != nil && kafkaError(err) == nil
}

// logUnavailable logs a collaborator's failure, at most one line a second
// per API, so that an outage retried by every client does not flood the
// log; each line counts the failures it stands for.
func (s *Server) logUnavailable(api string, err error) {
	if ok, n := s.rateLog.allow("unavailable " + api); ok {
		s.log.Warn("metastore or object store failure answered as retriable", "api", api, "failures", n, "err", err)
	}
}
