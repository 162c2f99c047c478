package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrBrokerUnreachable is matched (errors.Is) by every error that says no
// broker could be reached at all. The concrete error is a
// *BrokerUnreachableError naming the addresses tried.
var ErrBrokerUnreachable = errors.New("no Kafka broker reachable")

// ErrClosed is returned by operations on a closed Client or Consumer.
var ErrClosed = errors.New("client closed")

// ErrStop, returned by a consumer handler, stops Consumer.Run after counting
// the record as processed: its offset is committed and Run returns nil.
var ErrStop = errors.New("stop consuming")

// Kafka errors callers commonly test for. They are the franz-go kerr values,
// so errors.Is works whichever name a caller uses.
var (
	ErrUnknownTopic      error = kerr.UnknownTopicOrPartition
	ErrTopicExists       error = kerr.TopicAlreadyExists
	ErrInvalidTopic      error = kerr.InvalidTopicException
	ErrInvalidPartitions error = kerr.InvalidPartitions
	ErrInvalidConfig     error = kerr.InvalidConfig
	ErrRecordTooLarge    error = kerr.MessageTooLarge
	ErrGroupNotEmpty     error = kerr.NonEmptyGroup
	ErrUnknownGroup      error = kerr.GroupIDNotFound
)

// Error is the error of a failed operation. It wraps the cause (often a
// franz-go kerr error, so errors.Is(err, kerr.X) works), says whether
// retrying the same call may succeed, and carries a hint on what to do.
type Error struct {
	// Op is the operation: "produce", "create topic", "describe group", ...
	Op string
	// Resource is the topic or group the operation was about, if any.
	Resource string
	// Retriable reports whether the same call may succeed if retried
	// (a moving coordinator, a timeout), as opposed to a request that
	// will fail again unchanged (a topic that exists, a bad config).
	Retriable bool
	// Hint says what to do about it, when there is something to say.
	Hint string
	// Err is the cause.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Resource != "" {
		fmt.Fprintf(&b, " %q", e.Resource)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// BrokerUnreachableError says that none of the addresses answered.
type BrokerUnreachableError struct {
	Addrs []string // the seed brokers tried
	Err   error    // the last dial or request error
}

func (e *BrokerUnreachableError) Error() string {
	return fmt.Sprintf("cannot reach a Kafka broker at %s (%v); start a local Strata with `strata dev` "+
		"(or `make dev` in a Strata checkout), or point STRATA_BROKERS at your brokers",
		strings.Join(e.Addrs, ","), e.Err)
}

// Is makes errors.Is(err, ErrBrokerUnreachable) true.
func (e *BrokerUnreachableError) Is(target error) bool { return target == ErrBrokerUnreachable }

func (e *BrokerUnreachableError) Unwrap() error { return e.Err }

// wrap turns an error from franz-go into an *Error with a hint. It returns
// nil for nil and leaves an *Error as it is.
func (c *Client) wrap(op, resource string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	e = &Error{Op: op, Resource: resource, Err: err}
	var ke *kerr.Error
	switch {
	case errors.Is(err, kgo.ErrClientClosed):
		e.Err = ErrClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller's own doing; nothing to add.
	case isDialError(err):
		e.Retriable = true
		e.Err = &BrokerUnreachableError{Addrs: c.cfg.brokers, Err: err}
	case errors.As(err, &ke):
		// Kafka calls an unknown topic retriable because its metadata
		// spreads to brokers slowly; a Strata topic exists or not.
		e.Retriable = ke.Retriable && !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kerr.UnknownTopicID)
		e.Hint = hintFor(err)
	case strings.Contains(err.Error(), "broker is too old"):
		e.Hint = "this Strata version does not serve that request yet"
	case strings.Contains(err.Error(), "invalid record partitioning choice"):
		e.Hint = "WithPartition names a partition the topic does not have"
	default:
		e.Retriable = kgo.IsRetryableBrokerErr(err)
	}
	return e
}

// isDialError reports whether err is a failure to connect (as opposed to a
// broker that answered with an error).
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// hintFor says what to do about a Kafka error code.
func hintFor(err error) string {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return "the topic or partition does not exist: create the topic with `strata topics create NAME` " +
			"(strata dev also creates a topic on its first produce)"
	case errors.Is(err, kerr.TopicAlreadyExists):
		return "pick another name, or delete the topic first with `strata topics delete NAME`"
	case errors.Is(err, kerr.InvalidTopicException):
		return "topic names are 1 to 249 characters from [a-zA-Z0-9._-], and neither \".\" nor \"..\""
	case errors.Is(err, kerr.InvalidPartitions):
		return "a topic needs at least one partition, and its partition count can only grow"
	case errors.Is(err, kerr.InvalidConfig), errors.Is(err, kerr.InvalidRequest):
		return "check the config names and values (`strata topics describe NAME --all-configs` lists them)"
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return "the record exceeds the topic's max.message.bytes; split it or raise the limit"
	case errors.Is(err, kerr.NonEmptyGroup):
		return "the group has active members: stop its consumers first"
	case errors.Is(err, kerr.GroupIDNotFound):
		return "no such group; `strata groups list` shows the groups"
	case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.NotCoordinator),
		errors.Is(err, kerr.CoordinatorLoadInProgress):
		return "the group coordinator is moving or starting; retry"
	case errors.Is(err, kerr.RequestTimedOut):
		return "the broker did not finish in time (object store or metastore slow?); retry"
	case errors.Is(err, kerr.UnsupportedVersion):
		return "this Strata version does not serve that request yet"
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState),
		errors.Is(err, kerr.UnsupportedSaslMechanism):
		return "check the SASL mechanism and credentials given with WithSASL"
	case errors.Is(err, kerr.OffsetOutOfRange):
		return "the offset is outside [log start, high watermark); `strata topics describe NAME` shows the range"
	}
	return ""
}
