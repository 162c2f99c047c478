package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Position is where a consumer reads from: the beginning or end of a
// partition, an offset, or the first record at or after a time.
type Position struct {
	kind   positionKind
	offset int64
	time   time.Time
}

type positionKind uint8

const (
	posBeginning positionKind = iota
	posEnd
	posOffset
	posTime
	posFromEnd
)

// Beginning is the log start offset: the oldest record still kept.
func Beginning() Position { return Position{kind: posBeginning} }

// End is the high watermark: only records produced from now on.
func End() Position { return Position{kind: posEnd} }

// AtOffset is the given offset. Reading an offset outside the partition's
// range starts from the beginning instead.
func AtOffset(offset int64) Position { return Position{kind: posOffset, offset: offset} }

// FromEnd is n records before the end: the last n records of each
// partition, or all of them when it holds fewer.
func FromEnd(n int64) Position { return Position{kind: posFromEnd, offset: max(n, 0)} }

// AtTime is the first record whose timestamp is at or after t (the end when
// there is none).
func AtTime(t time.Time) Position { return Position{kind: posTime, time: t} }

func (p Position) String() string {
	switch p.kind {
	case posEnd:
		return "end"
	case posOffset:
		return fmt.Sprintf("offset %d", p.offset)
	case posTime:
		return "time " + p.time.Format(time.RFC3339Nano)
	case posFromEnd:
		return fmt.Sprintf("%d before the end", p.offset)
	}
	return "beginning"
}

func (p Position) kgoOffset() kgo.Offset {
	switch p.kind {
	case posEnd:
		return kgo.NewOffset().AtEnd()
	case posOffset:
		return kgo.NewOffset().At(p.offset)
	case posTime:
		return kgo.NewOffset().AfterMilli(p.time.UnixMilli())
	case posFromEnd:
		return kgo.NewOffset().AtEnd().Relative(-p.offset)
	}
	return kgo.NewOffset().AtStart()
}

// Message is a consumed record with its key and value decoded.
type Message[K, V any] struct {
	Key       K // zero when the record has no key (RawKey == nil)
	Value     V // zero for a null value (RawValue == nil), a tombstone
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Headers   []Header
	RawKey    []byte
	RawValue  []byte
}

// ConsumerOption configures a Consumer.
type ConsumerOption func(*consumerConfig)

type consumerConfig struct {
	start           Position
	stop            *Position
	partitions      map[string][]int32
	maxPoll         int
	commitInterval  time.Duration
	shutdownTimeout time.Duration
	onError         ErrorPolicy
	concurrency     int
	extra           []kgo.Opt
}

// StartAt sets where to start in a partition that has no committed offset
// for the group (or, without a group, in every partition). The default is
// Beginning, so that nothing produced before the consumer's first start is
// missed.
func StartAt(p Position) ConsumerOption {
	return func(c *consumerConfig) { c.start = p }
}

// StopAt makes Run return, without error, once the consumer has read every
// partition up to a position resolved when the consumer is created: End()
// reads what the partitions held then (kcat -e), AtOffset or AtTime read a
// range. A partition already at or past its stop position is not read. It
// needs a consumer without a group.
func StopAt(p Position) ConsumerOption {
	return func(c *consumerConfig) { c.stop = &p }
}

// OnlyPartitions restricts a consumer without a group to some partitions of
// a topic; by default it reads every partition of its topics.
func OnlyPartitions(topic string, partitions ...int32) ConsumerOption {
	return func(c *consumerConfig) {
		if c.partitions == nil {
			c.partitions = make(map[string][]int32)
		}
		c.partitions[topic] = append(c.partitions[topic], partitions...)
	}
}

// MaxPollRecords bounds the records handled between two rebalance points
// (default 500). A group cannot rebalance while a batch is being handled.
func MaxPollRecords(n int) ConsumerOption {
	return func(c *consumerConfig) { c.maxPoll = n }
}

// CommitInterval sets how often the offsets of handled records are
// committed while running (default 5s). Offsets are also committed when
// partitions are revoked and when Run returns.
func CommitInterval(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) { c.commitInterval = d }
}

// ShutdownTimeout bounds the final commit and the leave when Run returns
// (default 10s).
func ShutdownTimeout(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) { c.shutdownTimeout = d }
}

// ConsumerKgoOptions passes franz-go options through to the consumer's
// client, after this package's own.
func ConsumerKgoOptions(opts ...kgo.Opt) ConsumerOption {
	return func(c *consumerConfig) { c.extra = append(c.extra, opts...) }
}

type topicPartition struct {
	topic     string
	partition int32
}

// Consumer reads typed records, in a consumer group or from partitions it
// assigns itself. Its Run loop calls a handler for each record and commits
// a record's offset only after the handler has returned nil for it, so
// delivery is at least once: a crash or a rebalance may deliver a record
// again, but never skips one.
type Consumer[K, V any] struct {
	c      *Client
	group  string
	keys   Serde[K]
	values Serde[V]
	cfg    consumerConfig
	kc     *kgo.Client
	logger *slog.Logger

	mu       sync.Mutex
	assigned map[topicPartition]bool // group mode: partitions this member owns
	seeked   map[topicPartition]bool // moved by Seek during the current batch

	// stops is, with StopAt, the offset at which each partition's reading
	// ends; a partition reaching it is removed, and Run returns when none
	// is left. Guarded by mu once Run has started; nil without StopAt.
	stops map[topicPartition]int64

	ran       atomic.Bool
	closeOnce sync.Once
}

// NewConsumer returns a consumer of topics whose keys and values decode with
// the given serdes.
//
// With a group, the topics' partitions are shared among the group's
// members, and each member resumes from the offsets the group committed.
// Without a group (group == ""), the consumer reads every partition of the
// topics as they are now (or those given with OnlyPartitions), starting at
// the StartAt position, commits nothing, and can Seek at any time; ctx bounds
// the metadata request that lists the partitions.
func NewConsumer[K, V any](ctx context.Context, c *Client, group string, topics []string, keys Serde[K], values Serde[V], opts ...ConsumerOption) (*Consumer[K, V], error) {
	cfg := consumerConfig{
		start:           Beginning(),
		maxPoll:         500,
		commitInterval:  5 * time.Second,
		shutdownTimeout: 10 * time.Second,
		concurrency:     1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	resource := group
	if resource == "" && len(topics) > 0 {
		resource = topics[0]
	}
	if len(topics) == 0 && len(cfg.partitions) == 0 {
		return nil, &Error{Op: "new consumer", Resource: resource, Err: errors.New("no topics to consume")}
	}
	if cfg.maxPoll < 1 || cfg.commitInterval <= 0 || cfg.shutdownTimeout <= 0 || cfg.concurrency < 1 {
		return nil, &Error{Op: "new consumer", Resource: resource, Err: errors.New("MaxPollRecords, CommitInterval, ShutdownTimeout and PartitionConcurrency must be positive")}
	}
	if cfg.onError.kind == policyDeadLetter {
		if cfg.onError.topic == "" {
			return nil, &Error{Op: "new consumer", Resource: resource, Err: errors.New("DeadLetter needs a topic")}
		}
		if slices.Contains(topics, cfg.onError.topic) || cfg.partitions[cfg.onError.topic] != nil {
			return nil, &Error{Op: "new consumer", Resource: resource, Err: fmt.Errorf("dead-letter topic %s is one the consumer reads: a failing record would come back forever", cfg.onError.topic)}
		}
	}
	cs := &Consumer[K, V]{
		c:        c,
		group:    group,
		keys:     keys,
		values:   values,
		cfg:      cfg,
		logger:   c.cfg.logger,
		assigned: make(map[topicPartition]bool),
		seeked:   make(map[topicPartition]bool),
	}
	if cs.logger == nil {
		cs.logger = slog.New(slog.DiscardHandler)
	}
	opts2 := c.cfg.commonOpts()
	if group != "" {
		if len(cfg.partitions) > 0 {
			return nil, &Error{Op: "new consumer", Resource: group, Err: errors.New("OnlyPartitions needs a consumer without a group")}
		}
		if cfg.stop != nil {
			return nil, &Error{Op: "new consumer", Resource: group, Err: errors.New("StopAt needs a consumer without a group")}
		}
		opts2 = append(opts2,
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topics...),
			kgo.ConsumeResetOffset(cfg.start.kgoOffset()),
			kgo.AutoCommitMarks(),
			kgo.AutoCommitInterval(cfg.commitInterval),
			kgo.BlockRebalanceOnPoll(),
			kgo.OnPartitionsAssigned(cs.onAssigned),
			kgo.OnPartitionsRevoked(cs.onRevoked),
			kgo.OnPartitionsLost(cs.onLost),
		)
		if c.cfg.zone != "" {
			opts2 = append(opts2, kgo.BalanceRacks())
		}
	} else {
		assign, err := cs.directAssignment(ctx, topics)
		if err != nil {
			return nil, err
		}
		if cfg.stop != nil {
			if assign, err = cs.bounded(ctx, assign); err != nil {
				return nil, err
			}
			// Control records (transaction markers) take offsets too: the
			// stop offset may be one of them.
			opts2 = append(opts2, kgo.KeepControlRecords())
		}
		opts2 = append(opts2, kgo.ConsumePartitions(assign))
	}
	opts2 = append(opts2, cfg.extra...)
	kc, err := kgo.NewClient(opts2...)
	if err != nil {
		return nil, &Error{Op: "new consumer", Resource: resource, Err: err}
	}
	cs.kc = kc
	return cs, nil
}

// directAssignment lists the partitions a consumer without a group reads.
func (cs *Consumer[K, V]) directAssignment(ctx context.Context, topics []string) (map[string]map[int32]kgo.Offset, error) {
	assign := make(map[string]map[int32]kgo.Offset)
	start := cs.cfg.start.kgoOffset()
	for t, ps := range cs.cfg.partitions {
		assign[t] = make(map[int32]kgo.Offset)
		for _, p := range ps {
			assign[t][p] = start
		}
	}
	var list []string
	for _, t := range topics {
		if _, ok := assign[t]; !ok {
			list = append(list, t)
		}
	}
	if len(list) == 0 {
		return assign, nil
	}
	md, err := cs.c.adm.ListTopics(ctx, list...)
	if err != nil {
		return nil, cs.c.wrap("list partitions", list[0], err)
	}
	for _, t := range list {
		d, ok := md[t]
		if !ok {
			return nil, cs.c.wrap("list partitions", t, kerr.UnknownTopicOrPartition)
		}
		if d.Err != nil {
			return nil, cs.c.wrap("list partitions", t, d.Err)
		}
		assign[t] = make(map[int32]kgo.Offset)
		for p := range d.Partitions {
			assign[t][p] = start
		}
	}
	return assign, nil
}

// bounded resolves the start and stop positions of a consumer with StopAt
// to offsets, fills cs.stops, and leaves out of assign the partitions that
// have nothing to read.
func (cs *Consumer[K, V]) bounded(ctx context.Context, assign map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	adm := cs.c.Admin()
	cs.stops = make(map[topicPartition]int64)
	out := make(map[string]map[int32]kgo.Offset)
	for t, ps := range assign {
		starts, err := adm.resolve(ctx, t, cs.cfg.start)
		if err != nil {
			return nil, err
		}
		stops, err := adm.resolve(ctx, t, *cs.cfg.stop)
		if err != nil {
			return nil, err
		}
		for p := range ps {
			start, ok1 := starts[p]
			stop, ok2 := stops[p]
			if !ok1 || !ok2 {
				return nil, cs.c.wrap("list offsets", t, fmt.Errorf("%w: partition %d", kerr.UnknownTopicOrPartition, p))
			}
			if start >= stop {
				continue
			}
			if out[t] == nil {
				out[t] = make(map[int32]kgo.Offset)
			}
			out[t][p] = kgo.NewOffset().At(start)
			cs.stops[topicPartition{t, p}] = stop
		}
	}
	return out, nil
}

func (cs *Consumer[K, V]) onAssigned(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for t, parts := range ps {
		for _, p := range parts {
			cs.assigned[topicPartition{t, p}] = true
		}
	}
	cs.logger.Debug("partitions assigned", "group", cs.group, "partitions", ps)
}

// onRevoked commits what was handled in the revoked partitions before
// another member takes them over, as franz-go does when it revokes on its
// own.
func (cs *Consumer[K, V]) onRevoked(_ context.Context, cl *kgo.Client, ps map[string][]int32) {
	cs.forget(ps)
	if err := cl.CommitMarkedOffsets(cl.Context()); err != nil {
		cs.logger.Warn("commit on revoke failed", "group", cs.group, "err", err)
	}
	cs.logger.Debug("partitions revoked", "group", cs.group, "partitions", ps)
}

// onLost forgets partitions taken away without a chance to commit.
func (cs *Consumer[K, V]) onLost(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	cs.forget(ps)
	cs.logger.Warn("partitions lost", "group", cs.group, "partitions", ps)
}

func (cs *Consumer[K, V]) forget(ps map[string][]int32) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for t, parts := range ps {
		for _, p := range parts {
			delete(cs.assigned, topicPartition{t, p})
		}
	}
}

// Seek moves a partition's read position. Call it before Run or from the
// handler (on Run's goroutine); records of that partition still pending in
// the current batch are dropped, and reading continues at the new position.
//
// A group consumer can seek only the partitions assigned to it, which it
// knows once Run has started: seek from the handler. Committed offsets never
// move backwards on a seek; use Admin.ResetGroupOffsets for that.
func (cs *Consumer[K, V]) Seek(ctx context.Context, topic string, partition int32, to Position) error {
	tp := topicPartition{topic, partition}
	if cs.group == "" {
		cs.kc.RemoveConsumePartitions(map[string][]int32{topic: {partition}})
		cs.kc.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: to.kgoOffset()}})
	} else {
		cs.mu.Lock()
		ok := cs.assigned[tp]
		cs.mu.Unlock()
		if !ok {
			return &Error{Op: "seek", Resource: topic, Err: fmt.Errorf("partition %d is not assigned to this member of group %q; seek from the handler", partition, cs.group)}
		}
		offsets, err := cs.c.Admin().resolve(ctx, topic, to)
		if err != nil {
			return err
		}
		off, ok := offsets[partition]
		if !ok {
			return cs.c.wrap("seek", topic, kerr.UnknownTopicOrPartition)
		}
		cs.kc.SetOffsets(map[string]map[int32]kgo.EpochOffset{topic: {partition: {Epoch: -1, Offset: off}}})
	}
	cs.mu.Lock()
	cs.seeked[tp] = true
	cs.mu.Unlock()
	return nil
}

// Run calls handle for each record, in offset order within each partition,
// until ctx is cancelled, handle returns ErrStop, or (with StopOnError, the
// default ErrorPolicy) handle fails or a record does not decode. A record
// counts as processed once handle returns nil (or ErrStop) for it, or the
// ErrorPolicy has skipped it or written it to the dead-letter topic; only
// processed records are committed. PartitionConcurrency lets handle run for
// several partitions at once.
//
// On the way out Run commits the offsets of every processed record, leaves
// the group (so its partitions move to other members at once) and closes the
// consumer. It returns nil when ctx was cancelled or handle returned ErrStop,
// and otherwise the handler's error, a *DecodeError or a fetch error. The
// ctx given to handle is ctx: a handler that returns ctx.Err() when it is
// cancelled leaves its record unprocessed, to be delivered again.
//
// Run may be called once.
func (cs *Consumer[K, V]) Run(ctx context.Context, handle func(context.Context, Message[K, V]) error) error {
	return cs.run(ctx, handler[K, V]{one: handle})
}

func (cs *Consumer[K, V]) run(ctx context.Context, h handler[K, V]) error {
	if !cs.ran.CompareAndSwap(false, true) {
		return &Error{Op: "run consumer", Resource: cs.group, Err: errors.New("Run called twice")}
	}
	err := cs.loop(ctx, h)
	if cerr := cs.shutdown(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

func (cs *Consumer[K, V]) loop(ctx context.Context, h handler[K, V]) error {
	for {
		if cs.allStopped() {
			return nil // StopAt: every partition is read up to its stop
		}
		fetches := cs.kc.PollRecords(ctx, cs.cfg.maxPoll)
		if ctx.Err() != nil {
			cs.kc.AllowRebalance()
			return nil
		}
		if fetches.IsClientClosed() {
			return &Error{Op: "consume", Resource: cs.group, Err: ErrClosed}
		}
		if err := cs.fetchError(fetches); err != nil {
			cs.kc.AllowRebalance()
			return err
		}
		stop, err := cs.handleFetches(ctx, fetches, h)
		cs.kc.AllowRebalance()
		if stop || err != nil {
			return err
		}
	}
}

// fetchError returns the first error of a poll that retrying will not cure,
// and logs the others (franz-go retries them).
func (cs *Consumer[K, V]) fetchError(fetches kgo.Fetches) error {
	var fatal error
	fetches.EachError(func(topic string, partition int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		var (
			ke *kerr.Error
			gs *kgo.ErrGroupSession
		)
		switch {
		case fatal != nil:
		case errors.As(err, &gs):
			// Joining the group failed; franz-go retries, which helps
			// only if the cause is passing.
			if errors.As(err, &ke) && !ke.Retriable || strings.Contains(err.Error(), "broker is too old") {
				fatal = cs.c.wrap("join group", cs.group, err)
				return
			}
		case errors.As(err, &ke) && !ke.Retriable:
			fatal = cs.c.wrap("consume", topic, fmt.Errorf("partition %d: %w", partition, err))
			return
		}
		cs.logger.Warn("fetch failed; retrying", "topic", topic, "partition", partition, "err", err)
	})
	return fatal
}

func (cs *Consumer[K, V]) decode(r *kgo.Record) (Message[K, V], error) {
	m := Message[K, V]{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp,
		RawKey:    r.Key,
		RawValue:  r.Value,
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	var err error
	if r.Key != nil {
		if m.Key, err = cs.keys.Decode(r.Key); err != nil {
			return m, &DecodeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Part: "key", Err: err}
		}
	}
	if r.Value != nil {
		if m.Value, err = cs.values.Decode(r.Value); err != nil {
			return m, &DecodeError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Part: "value", Err: err}
		}
	}
	return m, nil
}

// shutdown commits what was processed, leaves the group and closes.
func (cs *Consumer[K, V]) shutdown() error {
	var err error
	cs.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cs.cfg.shutdownTimeout)
		defer cancel()
		if cs.group != "" {
			if cerr := cs.kc.CommitMarkedOffsets(ctx); cerr != nil {
				err = cs.c.wrap("commit offsets", cs.group, cerr)
			}
			if lerr := cs.kc.LeaveGroupContext(ctx); lerr != nil {
				cs.logger.Warn("leave group failed", "group", cs.group, "err", lerr)
			}
		}
		cs.kc.Close()
	})
	return err
}

// Close releases a consumer that Run did not; it commits what was processed
// and leaves the group, as Run does on its way out.
func (cs *Consumer[K, V]) Close() error { return cs.shutdown() }

// Committed returns the offsets committed by this member so far, per topic
// and partition: the offset of the next record to process.
func (cs *Consumer[K, V]) Committed() map[string]map[int32]int64 {
	out := make(map[string]map[int32]int64)
	for t, ps := range cs.kc.CommittedOffsets() {
		out[t] = make(map[int32]int64, len(ps))
		for p, eo := range ps {
			out[t][p] = eo.Offset
		}
	}
	return out
}

// Assigned returns the partitions this member of a group owns now, sorted.
func (cs *Consumer[K, V]) Assigned() map[string][]int32 {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make(map[string][]int32)
	for tp := range cs.assigned {
		out[tp.topic] = append(out[tp.topic], tp.partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}
