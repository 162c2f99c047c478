package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrorPolicy says what Run and RunBatches do with a record that the
// handler fails on or that does not decode. The default is StopOnError.
type ErrorPolicy struct {
	kind  policyKind
	topic string
}

type policyKind uint8

const (
	policyStop policyKind = iota
	policySkip
	policyDeadLetter
)

// StopOnError makes Run return the error; the record is not committed, so
// the group delivers it again (to this consumer when it restarts, or to
// another member).
func StopOnError() ErrorPolicy { return ErrorPolicy{kind: policyStop} }

// SkipOnError logs the record (topic, partition, offset and error, never
// its contents) and commits past it.
func SkipOnError() ErrorPolicy { return ErrorPolicy{kind: policySkip} }

// DeadLetter produces the record, key, value and headers unchanged, to
// topic with headers saying where it came from and why it failed
// (DeadLetterTopicHeader and the others), waits for the acknowledgement,
// and commits past it. Run stops with an error when the dead-letter topic
// cannot be written, so that no record is lost.
func DeadLetter(topic string) ErrorPolicy { return ErrorPolicy{kind: policyDeadLetter, topic: topic} }

// Headers a DeadLetter policy adds to the records it writes.
const (
	DeadLetterTopicHeader     = "strata.dlq.topic"     // the topic the record was read from
	DeadLetterPartitionHeader = "strata.dlq.partition" // its partition, in decimal
	DeadLetterOffsetHeader    = "strata.dlq.offset"    // its offset, in decimal
	DeadLetterErrorHeader     = "strata.dlq.error"     // the handler's or the decoder's error
)

// OnHandlerError sets the policy for records the handler fails on or that
// do not decode (default StopOnError). A handler's ErrStop and a cancelled
// context are not failures: they stop the consumer under every policy.
func OnHandlerError(p ErrorPolicy) ConsumerOption {
	return func(c *consumerConfig) { c.onError = p }
}

// PartitionConcurrency lets the handler run for up to n partitions at once
// (default 1). The records of one partition are still handled one after
// another, in offset order; the handler must then be safe for concurrent
// use. When one partition's handler stops the run (an error, ErrStop), the
// others finish the record or batch in hand, and what was handled is
// committed.
func PartitionConcurrency(n int) ConsumerOption {
	return func(c *consumerConfig) { c.concurrency = n }
}

// RunBatches is Run with a handler that takes the records of one
// partition at a time, in offset order: the consecutive records of one
// poll (at most MaxPollRecords). A batch is processed, and committed,
// when handle returns nil (or ErrStop) for it; when it returns an error,
// the whole batch is handled by the ErrorPolicy (with StopOnError nothing
// of it is committed). A record that does not decode is left out of its
// batch and handled by the policy on its own; with StopOnError the
// records before it are handed over first. PartitionConcurrency applies.
//
// RunBatches may be called once, and not together with Run.
func (cs *Consumer[K, V]) RunBatches(ctx context.Context, handle func(context.Context, []Message[K, V]) error) error {
	return cs.run(ctx, handler[K, V]{batch: handle})
}

// handler is the user's handler: of one record, or of a batch.
type handler[K, V any] struct {
	one   func(context.Context, Message[K, V]) error
	batch func(context.Context, []Message[K, V]) error
}

// handleFetches hands the records of one poll to the handler, partition by
// partition, up to PartitionConcurrency partitions at once. It reports
// stop when the consumer must stop (ctx cancelled, ErrStop, an error).
func (cs *Consumer[K, V]) handleFetches(ctx context.Context, fetches kgo.Fetches, h handler[K, V]) (stop bool, err error) {
	cs.mu.Lock()
	clear(cs.seeked)
	cs.mu.Unlock()
	var parts [][]*kgo.Record
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			parts = append(parts, p.Records)
		}
	})
	var (
		halt     atomic.Bool // a partition stopped the run
		errOnce  sync.Once
		firstErr error
	)
	one := func(recs []*kgo.Record) {
		s, err := cs.handlePartition(ctx, recs, h, &halt)
		if err != nil {
			errOnce.Do(func() { firstErr = err })
		}
		if s || err != nil {
			halt.Store(true)
		}
	}
	if n := min(cs.cfg.concurrency, len(parts)); n <= 1 {
		for _, recs := range parts {
			if one(recs); halt.Load() {
				break
			}
		}
	} else {
		next := make(chan []*kgo.Record)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				for recs := range next {
					one(recs)
				}
			})
		}
		for _, recs := range parts {
			if halt.Load() {
				break
			}
			next <- recs
		}
		close(next)
		wg.Wait()
	}
	return halt.Load() || ctx.Err() != nil, firstErr
}

// handlePartition handles the records of one partition from one poll.
func (cs *Consumer[K, V]) handlePartition(ctx context.Context, recs []*kgo.Record, h handler[K, V], halt *atomic.Bool) (stop bool, err error) {
	tp := topicPartition{recs[0].Topic, recs[0].Partition}
	var (
		msgs  []Message[K, V]
		taken []*kgo.Record
	)
	// flush hands the batch gathered so far to a batch handler.
	flush := func() (bool, error) {
		if len(msgs) == 0 {
			return false, nil
		}
		herr := h.batch(ctx, msgs)
		batch := taken
		msgs, taken = nil, nil
		return cs.outcome(ctx, batch, herr)
	}
	for _, r := range recs {
		if ctx.Err() != nil {
			return true, nil
		}
		if halt.Load() || cs.wasSeeked(tp) {
			break // another partition stopped the run, or Seek moved this one
		}
		if cs.pastStop(tp, r) {
			continue
		}
		m, err := cs.decode(r)
		if err != nil {
			if h.batch != nil && cs.cfg.onError.kind == policyStop {
				if s, err := flush(); s || err != nil {
					return s, err
				}
			}
			if s, err := cs.failed(ctx, []*kgo.Record{r}, err); s || err != nil {
				return s, err
			}
			continue
		}
		if h.batch != nil {
			msgs, taken = append(msgs, m), append(taken, r)
			continue
		}
		if s, err := cs.outcome(ctx, []*kgo.Record{r}, h.one(ctx, m)); s || err != nil {
			return s, err
		}
	}
	if ctx.Err() != nil {
		return true, nil
	}
	return flush()
}

// outcome acts on the handler's answer for records (one, or a batch of
// one partition in offset order).
func (cs *Consumer[K, V]) outcome(ctx context.Context, recs []*kgo.Record, herr error) (stop bool, err error) {
	if herr == nil && cs.allStopped() {
		herr = ErrStop
	}
	last := recs[len(recs)-1]
	switch {
	case herr == nil:
		cs.kc.MarkCommitRecords(last)
		return false, nil
	case errors.Is(herr, ErrStop):
		cs.kc.MarkCommitRecords(last)
		return true, nil
	case ctx.Err() != nil:
		// Cancelled while handling: the records stay unprocessed.
		return true, nil
	}
	return cs.failed(ctx, recs, fmt.Errorf("handle %s/%d@%d: %w", last.Topic, last.Partition, recs[0].Offset, herr))
}

// failed applies the ErrorPolicy to records the handler failed on or that
// did not decode.
func (cs *Consumer[K, V]) failed(ctx context.Context, recs []*kgo.Record, cause error) (stop bool, err error) {
	p := cs.cfg.onError
	switch p.kind {
	case policySkip:
		for _, r := range recs {
			cs.logger.Warn("skipping a record the consumer could not process",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", cause)
		}
	case policyDeadLetter:
		for _, r := range recs {
			headers := make([]Header, 0, len(r.Headers)+4)
			for _, h := range r.Headers {
				headers = append(headers, Header{Key: h.Key, Value: h.Value})
			}
			headers = append(headers,
				Header{Key: DeadLetterTopicHeader, Value: []byte(r.Topic)},
				Header{Key: DeadLetterPartitionHeader, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
				Header{Key: DeadLetterOffsetHeader, Value: strconv.AppendInt(nil, r.Offset, 10)},
				Header{Key: DeadLetterErrorHeader, Value: []byte(cause.Error())})
			if _, err := cs.c.Produce(ctx, p.topic, r.Key, r.Value, WithHeaders(headers...), WithTimestamp(r.Timestamp)); err != nil {
				if ctx.Err() != nil {
					return true, nil // cancelled: the record stays unprocessed
				}
				return true, fmt.Errorf("write %s/%d@%d to dead-letter topic %s: %w (after: %w)", r.Topic, r.Partition, r.Offset, p.topic, err, cause)
			}
		}
	default:
		return true, cause
	}
	cs.kc.MarkCommitRecords(recs[len(recs)-1])
	return false, nil
}

// wasSeeked reports whether Seek moved tp during the current poll: the
// poll's remaining records of tp are not handled.
func (cs *Consumer[K, V]) wasSeeked(tp topicPartition) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.seeked[tp]
}

// pastStop reports, with StopAt, whether r is not to be handled: at or
// past its partition's stop offset, or a control record. A partition whose
// stop is reached is done.
func (cs *Consumer[K, V]) pastStop(tp topicPartition, r *kgo.Record) bool {
	if cs.stops == nil {
		return false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	stop, reading := cs.stops[tp]
	if !reading || r.Offset >= stop {
		delete(cs.stops, tp)
		return true
	}
	if r.Offset+1 >= stop {
		delete(cs.stops, tp)
	}
	// Control records (transaction markers) take offsets too.
	return r.Attrs.IsControl()
}

// allStopped reports, with StopAt, whether every partition is read up to
// its stop.
func (cs *Consumer[K, V]) allStopped() bool {
	if cs.stops == nil {
		return false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.stops) == 0
}
