package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dialFrom opens a connection to the server from the given local address
// of 127.0.0.0/8, so that a test can be several clients.
func (s *testServer) dialFrom(t testing.TB, local string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	nc, err := d.Dial("tcp", s.addr)
	if err == nil {
		t.Cleanup(func() { nc.Close() })
	}
	return nc, err
}

// closedByServer reports whether the server closed nc (a read gets EOF or
// a reset) within the timeout, rather than leaving it open.
func closedByServer(nc net.Conn, within time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(within))
	var b [1]byte
	_, err := nc.Read(b[:])
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func (s *testServer) rejected(reason string) float64 {
	return testutil.ToFloat64(s.metrics.connRejected.WithLabelValues(reason))
}

func (s *testServer) openConns() float64 { return testutil.ToFloat64(s.metrics.connections) }

// TestConnectionLimits: beyond max connections per client address, and
// per node, new connections are closed at once and counted; the open ones
// are not affected, and a slot freed is usable again.
func TestConnectionLimits(t *testing.T) {
	const perIP, total = 5, 8
	s := startServer(t, func(c *Config) { c.MaxConnections, c.MaxConnectionsPerIP = total, perIP })
	var open []net.Conn
	for range perIP {
		nc, err := s.dialFrom(t, "127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, nc)
	}
	eventually(t, 5*time.Second, "connections registered", func() bool { return s.openConns() == perIP })
	nc, err := s.dialFrom(t, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if !closedByServer(nc, 5*time.Second) {
		t.Fatal("connection beyond the per-address limit left open")
	}
	if got := s.rejected(rejectMaxConnectionsPerIP); got != 1 {
		t.Fatalf("rejected{max_connections_per_ip} = %v, want 1", got)
	}
	// Another address has its own share, up to the node's limit.
	for range total - perIP {
		nc, err := s.dialFrom(t, "127.0.0.3")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, nc)
	}
	eventually(t, 5*time.Second, "connections registered", func() bool { return s.openConns() == total })
	nc, err = s.dialFrom(t, "127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	if !closedByServer(nc, 5*time.Second) {
		t.Fatal("connection beyond the node's limit left open")
	}
	if got := s.rejected(rejectMaxConnections); got != 1 {
		t.Fatalf("rejected{max_connections} = %v, want 1", got)
	}
	// The open connections still work.
	c := &rawConn{t: t, nc: open[0], br: bufio.NewReader(open[0])}
	open[0].SetDeadline(time.Now().Add(10 * time.Second))
	if resp := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 2).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions on an open connection: error %d", resp.ErrorCode)
	}
	// A slot freed is taken again.
	for _, nc := range open[1:] {
		nc.Close()
	}
	eventually(t, 5*time.Second, "connections closed", func() bool { return s.openConns() == 1 })
	cl, _ := s.clients(t)
	if _, err := metadataRequest(false).RequestWith(testContext(t), cl); err != nil {
		t.Fatalf("new client after slots were freed: %v", err)
	}
}

// TestIdleConnectionsCostLittle: connections that never send cost the node
// one goroutine and a few KiB each, and those beyond the limit nothing.
func TestIdleConnectionsCostLittle(t *testing.T) {
	const n = 500
	s := startServer(t, func(c *Config) { c.MaxConnections, c.MaxConnectionsPerIP = n, n })
	before := memInUse()
	for range n + 100 {
		if _, err := s.dialFrom(t, "127.0.0.5"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "connections registered and refused", func() bool {
		return s.openConns() == n && s.rejected(rejectMaxConnections) == 100
	})
	per := float64(max(int64(memInUse())-int64(before), 0)) / n
	t.Logf("%.1f KiB of heap and stacks per idle connection (both ends, in one process)", per/1024)
	// Both ends of each connection live in this process; a client's end
	// costs about what the server's does. 64 KiB would be a read buffer
	// allocated per connection before any request arrives.
	if per > 64<<10 {
		t.Fatalf("%.0f bytes per idle connection", per)
	}
}

// memInUse is the heap and goroutine stacks in use after a collection.
func memInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// TestStalledRequestClosed: a client that sends a request's length, or
// part of a request, and then nothing has its connection closed after the
// request read timeout, not the idle timeout, and gives back the request
// budget it held.
func TestStalledRequestClosed(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := startServer(t, func(c *Config) { c.RequestReadTimeout, c.IdleTimeout = timeout, time.Hour })
	meta := encodeRequest(metadataRequest(false, "a", "b"), 1)
	for _, tc := range []struct {
		name  string
		bytes []byte
	}{
		{"length only", meta[:4]},
		{"part of the header", meta[:7]},
		{"part of the body", meta[:len(meta)-2]},
		{"huge announced produce", binary.BigEndian.AppendUint32(nil, 50<<20)},
	} {
		before := s.counter("Unknown", resultStalled) + s.counter("Metadata", resultStalled)
		c := s.dial(t)
		start := time.Now()
		c.write(tc.bytes)
		c.expectClosed()
		if since := time.Since(start); since < timeout/2 {
			t.Fatalf("%s: closed after %v, before the timeout %v", tc.name, since, timeout)
		}
		if got := s.counter("Unknown", resultStalled) + s.counter("Metadata", resultStalled); got != before+1 {
			t.Errorf("%s: stalled counter went from %v to %v", tc.name, before, got)
		}
	}
	eventually(t, 5*time.Second, "budget given back", func() bool { return testutil.ToFloat64(s.metrics.budgetBytes) == 0 })
}

// TestRequestBudget: a connection whose next request does not fit the
// node's request budget waits, not reading, until it does; a request that
// could never fit closes its connection at once.
func TestRequestBudget(t *testing.T) {
	const maxRequest = 64 << 10
	budget := requestCharge(produceKey, maxRequest) + 16<<10
	s := startServer(t, func(c *Config) {
		c.MaxRequestBytes, c.MaxQueuedRequestBytes, c.RequestReadTimeout = maxRequest, budget, time.Minute
	})
	used := func() int64 { return int64(testutil.ToFloat64(s.metrics.budgetBytes)) }
	waits := func() float64 { return testutil.ToFloat64(s.metrics.budgetWaits) }

	// A holds the charge of a full-size Produce: it sends the length and
	// header, and stalls.
	a := s.dial(t)
	a.write(binary.BigEndian.AppendUint32(nil, maxRequest))
	a.write([]byte{0, 0, 0, 9, 0, 0, 0, 1})
	eventually(t, 5*time.Second, "A charged", func() bool { return used() == requestCharge(produceKey, maxRequest) })

	// B's request, a Metadata of some 500 bytes, is charged a hundred
	// times that: more than what is left. B waits.
	names := make([]string, 0, 30)
	for i := range 30 {
		names = append(names, fmt.Sprintf("topic-%04d", i))
	}
	req := metadataRequest(false, names...)
	req.SetVersion(12)
	frame := encodeRequest(req, 7)
	if charge := requestCharge(kmsg.Metadata.Int16(), len(frame)-4); charge <= budget-used() {
		t.Fatalf("test request charged %d fits the %d left", charge, budget-used())
	}
	b := s.dial(t)
	b.write(frame)
	eventually(t, 5*time.Second, "B waiting", func() bool { return waits() == 1 })
	// Meanwhile a small request still fits... behind B: the budget is
	// first come, first served, so it waits too.
	c := s.dial(t)
	apiReq := kmsg.NewPtrApiVersionsRequest()
	c.send(apiReq, 2, 1)
	eventually(t, 5*time.Second, "C waiting behind B", func() bool { return waits() == 2 })

	// A goes away: B and C are read and answered.
	a.nc.Close()
	resp := b.recv(req, 7).(*kmsg.MetadataResponse)
	if len(resp.Topics) != len(names) {
		t.Fatalf("B answered with %d topics", len(resp.Topics))
	}
	c.recv(apiReq, 1)
	eventually(t, 5*time.Second, "budget given back", func() bool { return used() == 0 })

	// A request that could never fit: closed at once.
	huge := metadataRequest(false, make([]string, 0)...)
	for i := range 1000 {
		huge.Topics = append(huge.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(fmt.Sprintf("t%07d", i))})
	}
	huge.SetVersion(12)
	d := s.dial(t)
	before := s.counter("Metadata", resultTooLarge)
	d.write(encodeRequest(huge, 9))
	d.expectClosed()
	if got := s.counter("Metadata", resultTooLarge); got != before+1 {
		t.Fatalf("too_large counter went from %v to %v", before, got)
	}
	if used() != 0 {
		t.Fatalf("%d bytes of budget held after the refusal", used())
	}
}

// TestRequestBudgetUnderLoad: with a budget that holds a few requests at a
// time, many producers sending at once are all served, and the budget is
// all given back.
func TestRequestBudgetUnderLoad(t *testing.T) {
	const maxRequest = 64 << 10
	s := startServer(t, func(c *Config) {
		c.MaxRequestBytes, c.MaxQueuedRequestBytes = maxRequest, 2*requestCharge(produceKey, maxRequest)
	})
	_, adm := s.clients(t)
	createTopic(t, adm, "budget", 4, nil)
	ctx := testContext(t)
	const producers, records = 8, 200
	errc := make(chan error, producers)
	for p := range producers {
		go func() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("budget"),
				kgo.ProducerBatchMaxBytes(32<<10), kgo.MaxBufferedRecords(50))
			if err != nil {
				errc <- err
				return
			}
			defer cl.Close()
			value := make([]byte, 1000)
			for i := range records {
				r := &kgo.Record{Value: append([]byte(fmt.Sprintf("%d-%d-", p, i)), value...)}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errc <- err:
						default:
						}
					}
				})
			}
			errc <- cl.Flush(ctx)
		}()
	}
	for range producers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "budget given back", func() bool { return testutil.ToFloat64(s.metrics.budgetBytes) == 0 })
}

// TestMetadataBoundedWork: a Metadata request naming many topics looks up
// at most max-metadata-lookups of them in the metastore and auto-creates
// at most max-auto-create-topics; the others are LEADER_NOT_AVAILABLE,
// and the client's retries get further each time. Names the cache does
// not know are checked against one listing of every topic, not queried
// one by one.
func TestMetadataBoundedWork(t *testing.T) {
	var counting *countingStore
	s := startServer(t, func(c *Config) { c.MaxMetadataLookups, c.MaxAutoCreateTopics, c.TopicCacheTTL = 50, 10, time.Minute },
		metaWrapper(func(m MetaStore) MetaStore {
			counting = &countingStore{MetaStore: m}
			return counting
		}))
	c := s.dial(t)
	codes := func(resp *kmsg.MetadataResponse) map[int16]int {
		m := map[int16]int{}
		for _, mt := range resp.Topics {
			m[mt.ErrorCode]++
		}
		return m
	}
	queries := func() int64 { return counting.lookups.Load() + counting.partitions.Load() }

	// A few unknown names are looked up one by one, and cached.
	few := []string{"few-0", "few-1", "few-2", "few-3", "few-4"}
	before := counting.lookups.Load()
	for range 3 {
		c.roundTrip(metadataRequest(false, few...), 12)
	}
	if n := counting.lookups.Load() - before; n != int64(len(few)) {
		t.Fatalf("3 requests for %d unknown names made %d lookups, want %d", len(few), n, len(few))
	}

	// Topics created by another node, which this one has not looked up.
	var existing []string
	for i := range 100 {
		name := fmt.Sprintf("existing-%03d", i)
		s.createTopic(t, name, 1)
		existing = append(existing, name)
	}

	// 20,000 unknown names: one listing, no query per name.
	var unknown []string
	for i := range 20_000 {
		unknown = append(unknown, fmt.Sprintf("unknown-%05d", i))
	}
	before = queries()
	resp := c.roundTrip(metadataRequest(false, unknown...), 12).(*kmsg.MetadataResponse)
	if got := codes(resp); got[kerr.UnknownTopicOrPartition.Code] != len(unknown) {
		t.Fatalf("unknown names: codes %v", got)
	}
	if n := queries() - before; n != 0 {
		t.Fatalf("20,000 unknown names made %d queries, want none beyond the listing", n)
	}

	// The 100 topics this node has not looked up: 50 looked up per
	// request.
	for round, want := range []int{50, 100} {
		resp := c.roundTrip(metadataRequest(false, existing...), 12).(*kmsg.MetadataResponse)
		if got := codes(resp); got[0] != want || got[kerr.LeaderNotAvailable.Code] != 100-want {
			t.Fatalf("existing topics, round %d: codes %v, want %d found", round, got, want)
		}
	}

	// Auto-creation: at most 10 per request.
	var create []string
	for i := range 25 {
		create = append(create, fmt.Sprintf("auto-%02d", i))
	}
	for round, want := range []int{10, 20, 25} {
		resp := c.roundTrip(metadataRequest(true, create...), 12).(*kmsg.MetadataResponse)
		if got := codes(resp); got[0] != want || got[kerr.LeaderNotAvailable.Code] != 25-want {
			t.Fatalf("auto-create round %d: codes %v, want %d created", round, got, want)
		}
	}
	// Many names, some unknown and to be created, through the listing.
	var mixed []string
	for i := range 40 {
		mixed = append(mixed, fmt.Sprintf("mixed-%02d", i))
	}
	resp = c.roundTrip(metadataRequest(true, mixed...), 12).(*kmsg.MetadataResponse)
	if got := codes(resp); got[0] != 10 || got[kerr.LeaderNotAvailable.Code] != 30 {
		t.Fatalf("auto-create of 40 through the listing: codes %v, want 10 created", got)
	}
}

// TestTopicChangesBoundedPerRequest: CreateTopics, DeleteTopics and
// CreatePartitions change at most max-topics-per-request topics; the rest
// are THROTTLING_QUOTA_EXCEEDED, or INVALID_REQUEST at versions without it.
func TestTopicChangesBoundedPerRequest(t *testing.T) {
	const max = 5
	s := startServer(t, func(c *Config) { c.MaxTopicsPerRequest = max })
	c := s.dial(t)
	create := kmsg.NewPtrCreateTopicsRequest()
	for i := range 8 {
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = fmt.Sprintf("bulk-%d", i), 1, -1
		create.Topics = append(create.Topics, ct)
	}
	resp := c.roundTrip(create, 7).(*kmsg.CreateTopicsResponse)
	for i, st := range resp.Topics {
		want := int16(0)
		if i >= max {
			want = kerr.ThrottlingQuotaExceeded.Code
		}
		if st.ErrorCode != want {
			t.Fatalf("CreateTopics v7 topic %d: error %d, want %d", i, st.ErrorCode, want)
		}
	}
	// v5 does not know THROTTLING_QUOTA_EXCEEDED. bulk-3 and bulk-4
	// exist; bulk-5 to bulk-7 are created; bulk-8 and bulk-9 are beyond.
	create.Topics = create.Topics[3:]
	for _, name := range []string{"bulk-8", "bulk-9"} {
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, 1, -1
		create.Topics = append(create.Topics, ct)
	}
	resp = c.roundTrip(create, 5).(*kmsg.CreateTopicsResponse)
	for i, st := range resp.Topics {
		want := kerr.TopicAlreadyExists.Code
		switch {
		case i >= max:
			want = kerr.InvalidRequest.Code
		case i >= 2:
			want = 0
		}
		if st.ErrorCode != want {
			t.Fatalf("CreateTopics v5 topic %d: error %d, want %d", i, st.ErrorCode, want)
		}
	}
	parts := kmsg.NewPtrCreatePartitionsRequest()
	for i := range 7 {
		parts.Topics = append(parts.Topics, kmsg.CreatePartitionsRequestTopic{Topic: fmt.Sprintf("bulk-%d", i), Count: 2})
	}
	for i, st := range c.roundTrip(parts, 3).(*kmsg.CreatePartitionsResponse).Topics {
		if want := i >= max; (st.ErrorCode == kerr.ThrottlingQuotaExceeded.Code) != want || !want && st.ErrorCode != 0 {
			t.Fatalf("CreatePartitions topic %d: error %d", i, st.ErrorCode)
		}
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	for i := range 7 {
		del.Topics = append(del.Topics, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(fmt.Sprintf("bulk-%d", i))})
	}
	for i, st := range c.roundTrip(del, 6).(*kmsg.DeleteTopicsResponse).Topics {
		if want := i >= max; (st.ErrorCode == kerr.ThrottlingQuotaExceeded.Code) != want || !want && st.ErrorCode != 0 {
			t.Fatalf("DeleteTopics topic %d: error %d", i, st.ErrorCode)
		}
	}
}

// TestRequestBudgetShares: requests are granted in order until one does
// not fit, except that a client over half the budget waits without holding
// up other clients; a waiter that gives up lets those behind it go.
func TestRequestBudgetShares(t *testing.T) {
	b := newRequestBudget(100, newMetrics(nil))
	ctx := testContext(t)
	granted := make(chan string, 10)
	acquire := func(name, addr string, n int64, ctx context.Context) {
		go func() {
			if err := b.acquire(ctx, addr, n); err == nil {
				granted <- name
			} else {
				granted <- name + " gave up"
			}
		}()
	}
	next := func(want string) {
		t.Helper()
		select {
		case got := <-granted:
			if got != want {
				t.Fatalf("granted %s, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s not granted", want)
		}
	}
	waiting := func(n int) {
		t.Helper()
		eventually(t, 5*time.Second, "waiters", func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.waiters.Len() == n
		})
	}
	acquire("a1", "A", 60, ctx)
	next("a1")
	acquire("a2", "A", 10, ctx) // A over its half: waits
	waiting(1)
	acquire("b1", "B", 30, ctx) // fits, and is not held up by a2
	next("b1")
	acquire("b2", "B", 20, ctx) // does not fit: waits
	waiting(2)
	cctx, cancel := context.WithCancel(ctx)
	acquire("c1", "C", 5, cctx) // fits, but behind b2
	waiting(3)
	cancel()
	next("c1 gave up")
	b.release("A", 60) // a2 and b2 go
	got := map[string]bool{}
	for range 2 {
		select {
		case g := <-granted:
			got[g] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("granted %v after the release, want a2 and b2", got)
		}
	}
	if !got["a2"] || !got["b2"] {
		t.Fatalf("granted %v, want a2 and b2", got)
	}
	b.release("A", 10)
	b.release("B", 50)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.charged != 0 || len(b.held) != 0 || b.waiters.Len() != 0 {
		t.Fatalf("after every release: charged %d, held %v, %d waiting", b.charged, b.held, b.waiters.Len())
	}
}
