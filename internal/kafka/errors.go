package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/reader"
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

// sentinels maps our sentinel errors to Kafka error codes. This is the one
// place where they are translated.
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
	{ingest.ErrCorruptBatch, kerr.CorruptMessage},
	{ingest.ErrUnsupportedBatch, kerr.InvalidRecord},
	{ingest.ErrInvalidRecords, kerr.InvalidRecord},
	{ingest.ErrOldFormat, kerr.UnsupportedForMessageFormat},
	{ingest.ErrBatchTooLarge, kerr.MessageTooLarge},
	{ingest.ErrUnsupportedCompression, kerr.UnsupportedCompressionType},
	{ingest.ErrUploadFailed, kerr.KafkaStorageError},
	{ingest.ErrCommitFailed, kerr.KafkaStorageError},
	// Shutting down: retriable, and tells the client to look for the
	// partition's leader again.
	{ingest.ErrClosed, kerr.NotLeaderForPartition},
	// The fetch path: a chunk that does not decode is a storage fault.
	{reader.ErrCorrupt, kerr.KafkaStorageError},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	// The connection is closing: the answer is never read.
	{context.Canceled, kerr.RequestTimedOut},
}

// kafkaError returns the Kafka error for err, or nil when err is not one we
// know.
func kafkaError(err error) *kerr.Error {
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

// errorCode translates err to a Kafka error code: 0 for nil, the mapped code
// for known errors, UNKNOWN_SERVER_ERROR (logged) for anything else.
func (s *Server) errorCode(api string, err error) int16 {
	code, _ := s.errorCodeMessage(api, err)
	return code
}

// errorCodeMessage is errorCode with the message for responses that carry
// one. Unknown errors get no message: their text is for our logs.
func (s *Server) errorCodeMessage(api string, err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	if ke := kafkaError(err); ke != nil {
		msg := err.Error()
		return ke.Code, &msg
	}
	s.log.Error("request failed", "api", api, "err", err)
	return kerr.UnknownServerError.Code, nil
}

// dataErrorCode translates the errors of the produce and fetch paths. They
// are mostly failures of the object store or the metastore, which pass:
// errors we do not know become KAFKA_STORAGE_ERROR, which clients retry,
// rather than UNKNOWN_SERVER_ERROR, which they do not.
func (s *Server) dataErrorCode(api string, err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	if ke := kafkaError(err); ke != nil {
		msg := err.Error()
		return ke.Code, &msg
	}
	s.log.Warn("storage error", "api", api, "err", err)
	return kerr.KafkaStorageError.Code, nil
}
