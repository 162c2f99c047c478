package kafka

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// What a request costs the node's request budget
// (Config.MaxQueuedRequestBytes), and why.
//
// A request holds its frame, and then the structures kmsg decodes it to.
// kmsg allocates an array's elements as soon as it has read the array's
// count, before decoding any; it refuses a count only when the bytes left
// could not hold that many elements at their smallest encoding. The
// element structs are larger than that smallest encoding (a Fetch topic is
// 64 bytes of struct for 2 bytes of flexible encoding), and each level of
// nested arrays may claim nearly the whole rest of the frame again, since
// claimed elements take no bytes until they are decoded: an OffsetFetch
// request's groups, topics and partitions allocate 54 bytes per byte of
// frame. Tagged fields of flexible versions add up to 40 bytes per byte
// (each tag of 2 or 3 bytes becomes a map entry, and the map grows by
// doubling). So a request of n bytes decodes to at most decodeFactor*n
// bytes, and is charged (1+decodeFactor)*n. A frame that lies about its
// counts is refused by kmsg or fits its charge
// (TestDecodeAmplificationBounded measures the worst cases). With the
// default budget, requests other than Produce may be up to 2.5 MiB: a
// Fetch of some 80,000 partitions, a Metadata request of 80,000 topics.
//
// Produce requests are large and their honest decoding is small (the
// record batches stay in the frame), so charging them that way would cut
// the budget's useful size by a hundred. Instead, a Produce body is walked
// before it is decoded (produceDecodedSize) to learn exactly what kmsg
// will allocate, and refused when that is more than maxProduceDecoded(n):
// one and a half times the frame, and 64 KiB. No client produces such a
// request: a partition carrying a record batch encodes to at least 74
// bytes and decodes to 40, a topic adds 64 bytes to its name. A Produce
// request is charged its frame and that bound while it is read, then its
// frame and what it decodes to.
const (
	decodeFactor       = 100
	produceDecodeSlack = 64 << 10
	produceKey         = 0 // kmsg.Produce
	tagFactor          = 40
)

// requestCharge is what a request of the given key and frame length costs
// the budget while it is read.
func requestCharge(key int16, length int) int64 {
	if key == produceKey {
		return int64(length) + maxProduceDecoded(length)
	}
	return int64(length) * (1 + decodeFactor)
}

// maxProduceDecoded is the most a Produce request of the given frame
// length may decode to.
func maxProduceDecoded(length int) int64 { return int64(length)*3/2 + produceDecodeSlack }

// Sizes of what kmsg allocates per Produce topic, partition and tagged
// field.
const (
	produceTopicSize     = int64(unsafe.Sizeof(kmsg.ProduceRequestTopic{}))
	producePartitionSize = int64(unsafe.Sizeof(kmsg.ProduceRequestTopicPartition{}))
	tagSize              = 3 * tagFactor // a map entry of uint32 to []byte, with the map's slack
)

var errProduceTooManyEntries = errors.New("produce request decodes to more than its size allows")

// produceDecodedSize walks the body of a Produce request (after the
// request header) at version as kmsg decodes it, without allocating, and
// returns the bytes kmsg will allocate for it: its topics, partitions,
// tagged fields and strings. The walk accepts whatever kmsg accepts.
func produceDecodedSize(src []byte, version int16) (int64, error) {
	b := kbin.Reader{Src: src}
	flexible := version >= 9
	var size int64
	length := func() int {
		if flexible {
			return int(b.Uvarint()) - 1
		}
		return int(b.Int16())
	}
	nullableString := func() {
		if l := length(); l >= 0 {
			b.Span(l)
			size += int64(l)
		}
	}
	str := func() {
		l := length()
		b.Span(l) // a negative length fails, as in kmsg
		size += int64(max(l, 0))
	}
	nullableBytes := func() {
		var l int
		if flexible {
			l = int(b.Uvarint()) - 1
		} else {
			l = int(b.Int32())
		}
		if l >= 0 {
			b.Span(l)
		}
	}
	arrayLen := func(minSize int) int {
		var l int
		if flexible {
			l = int(b.Uvarint()) - 1
		} else {
			l = int(b.Int32())
		}
		if !b.Ok() || int64(l)*int64(minSize) > int64(len(b.Src)) {
			b.Span(-1) // kmsg refuses the request
			return 0
		}
		return max(l, 0)
	}
	tags := func() {
		if !flexible {
			return
		}
		for n := b.Uvarint(); n > 0 && b.Ok(); n-- {
			b.Uvarint()
			b.Span(int(b.Uvarint()))
			size += tagSize
		}
	}
	if version >= 3 {
		nullableString() // transactional id
	}
	b.Int16() // acks
	b.Int32() // timeout
	minTopic := 2
	if version >= 13 {
		minTopic = 18
	}
	topics := arrayLen(minTopic)
	size += int64(topics) * produceTopicSize
	for range topics {
		if !b.Ok() {
			break
		}
		if version >= 13 {
			b.Span(16) // topic id
		} else {
			str()
		}
		parts := arrayLen(6)
		size += int64(parts) * producePartitionSize
		for range parts {
			if !b.Ok() {
				break
			}
			b.Int32() // partition
			nullableBytes()
			tags()
		}
		tags()
	}
	tags()
	if !b.Ok() {
		return 0, kbin.ErrNotEnoughData
	}
	return size, nil
}

// requestBudget is the node's budget of request bytes (Config.
// MaxQueuedRequestBytes). A request is charged in full before its body is
// read (requestCharge), so that no connection holds part of a charge while
// waiting for the rest: waiting never deadlocks.
//
// Requests wait in the order they asked, so that a large request is not
// passed over forever by small ones, with one exception that keeps one
// client from taking the budget: a client address that already holds
// charges may not hold more than half the budget, and its requests beyond
// that wait without holding up those of other clients. A client can thus
// hold half the budget, or one request however large, and no more; a
// request it has started but stalls in is given back after
// Config.RequestReadTimeout.
type requestBudget struct {
	size  int64 // 0: no bound
	used  prometheus.Gauge
	waits prometheus.Counter

	mu      sync.Mutex
	charged int64
	held    map[string]int64 // charged, by client address
	waiters list.List        // of *budgetWaiter, in arrival order
}

type budgetWaiter struct {
	addr    string
	n       int64
	granted bool
	ready   chan struct{} // closed when granted
}

func newRequestBudget(size int64, m *metrics) *requestBudget {
	return &requestBudget{size: size, used: m.budgetBytes, waits: m.budgetWaits, held: map[string]int64{}}
}

// fits reports whether a charge of n can ever be granted.
func (b *requestBudget) fits(n int64) bool { return b.size == 0 || n <= b.size }

// acquire waits until a charge of n for a request of the client at addr
// is granted, or ctx ends. n must fit.
func (b *requestBudget) acquire(ctx context.Context, addr string, n int64) error {
	b.mu.Lock()
	w := &budgetWaiter{addr: addr, n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	b.grantLocked()
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	default:
	}
	b.waits.Inc()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	if w.granted {
		b.mu.Unlock()
		b.release(addr, n)
		return ctx.Err()
	}
	b.waiters.Remove(e)
	b.grantLocked() // those it held up may go now
	b.mu.Unlock()
	return ctx.Err()
}

// grantLocked grants the waiting requests that may go: in order, skipping
// those of clients over their share, until one does not fit. b.mu must be
// held.
func (b *requestBudget) grantLocked() {
	for e := b.waiters.Front(); e != nil; {
		next := e.Next()
		w := e.Value.(*budgetWaiter)
		held := b.held[w.addr]
		switch {
		case b.size > 0 && held > 0 && held+w.n > b.size/2:
			// Over its share: waits for its own charges to go.
		case b.size > 0 && b.charged+w.n > b.size:
			return
		default:
			b.charged += w.n
			b.held[w.addr] = held + w.n
			b.used.Add(float64(w.n))
			w.granted = true
			close(w.ready)
			b.waiters.Remove(e)
		}
		e = next
	}
}

// release gives back n bytes of a charge of the client at addr.
func (b *requestBudget) release(addr string, n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.charged -= n
	if b.held[addr] -= n; b.held[addr] <= 0 {
		delete(b.held, addr)
	}
	b.used.Sub(float64(n))
	b.grantLocked()
}

// clientAddr is the address a connection counts against for
// Config.MaxConnectionsPerIP: the IP of a TCP peer, the whole address of
// anything else.
func clientAddr(nc net.Conn) string {
	addr := nc.RemoteAddr()
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return host
	}
	return addr.String()
}

// Reasons a connection is refused, as the reason label of
// strata_kafka_connections_rejected_total.
const (
	rejectMaxConnections      = "max_connections"
	rejectMaxConnectionsPerIP = "max_connections_per_ip"
)

// rateLog logs at most one line a second per key, counting the events
// each line stands for, so that a client retrying in a loop does not
// flood the log.
type rateLog struct {
	mu   sync.Mutex
	keys map[string]*rateCount
}

type rateCount struct {
	last   time.Time
	events int // since last
}

// allow reports whether a line for key may be logged now, and how many
// events it stands for.
func (l *rateLog) allow(key string) (bool, int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]*rateCount{}
	}
	c, ok := l.keys[key]
	if !ok {
		if len(l.keys) > 1000 {
			clear(l.keys) // keys are API names and reasons; never many
		}
		c = &rateCount{}
		l.keys[key] = c
	}
	c.events++
	if ok && now.Sub(c.last) < time.Second {
		return false, 0
	}
	n := c.events
	c.last, c.events = now, 0
	return true, n
}

// limitMessage describes a request refused by a limit, for logs.
func limitMessage(api string, charge, budget int64) string {
	return fmt.Sprintf("%s request charged %d bytes, above the request budget of %d (kafka.max-queued-request-bytes)", api, charge, budget)
}

// topicLimitError answers the topic at index i of a CreateTopics,
// DeleteTopics or CreatePartitions request naming n, when i is beyond
// Config.MaxTopicsPerRequest: THROTTLING_QUOTA_EXCEEDED where the request's
// version knows it (KIP-599: the Java admin client retries those topics by
// itself, others tell their caller to), INVALID_REQUEST before. Kafka
// answers the topics beyond its controller mutation quota the same way.
func (s *Server) topicLimitError(i, n int, quotaCode bool) error {
	max := s.cfg.MaxTopicsPerRequest
	if max == 0 || i < max {
		return nil
	}
	code := kerr.InvalidRequest
	if quotaCode {
		code = kerr.ThrottlingQuotaExceeded
	}
	return errorf(code, "the request names %d topics; at most %d are changed per request (kafka.max-topics-per-request): send the rest again", n, max)
}
