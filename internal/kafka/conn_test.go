package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
)

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	s := startServer(t)
	c := s.dial(t)

	// Twenty requests of different APIs, written at once.
	var frames []byte
	var reqs []kmsg.Request
	for i := range 20 {
		var req kmsg.Request
		switch i % 4 {
		case 0:
			req = kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(0)
		case 1:
			req = metadataRequest(true, fmt.Sprintf("pipe-%d", i))
			req.SetVersion(12)
		case 2:
			ct := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic = fmt.Sprintf("pipe-%d", i)
			rt.NumPartitions = 1
			rt.ReplicationFactor = -1
			ct.Topics = append(ct.Topics, rt)
			req = ct
			req.SetVersion(7)
		case 3:
			dc := kmsg.NewPtrDescribeConfigsRequest()
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType = kmsg.ConfigResourceTypeTopic
			res.ResourceName = fmt.Sprintf("pipe-%d", i-1)
			dc.Resources = append(dc.Resources, res)
			req = dc
			req.SetVersion(4)
		}
		reqs = append(reqs, req)
		frames = append(frames, encodeRequest(req, int32(1000+i))...)
	}
	c.write(frames)
	for i, req := range reqs {
		resp := c.recv(req, int32(1000+i))
		switch r := resp.(type) {
		case *kmsg.CreateTopicsResponse:
			if r.Topics[0].ErrorCode != 0 {
				t.Errorf("request %d: create error %d", i, r.Topics[0].ErrorCode)
			}
		case *kmsg.DescribeConfigsResponse:
			// Answered after the CreateTopics just before it.
			if r.Resources[0].ErrorCode != 0 {
				t.Errorf("request %d: describe error %d", i, r.Resources[0].ErrorCode)
			}
		}
	}
}

// TestLaterRepliesRunConcurrentlyInOrder replaces the Metadata handler with
// one whose deferred parts only finish once all of them have started, and
// finish in reverse order: the responses must still come in request order.
func TestLaterRepliesRunConcurrentlyInOrder(t *testing.T) {
	const n = 8
	var (
		mu      sync.Mutex
		called  []int32
		started sync.WaitGroup
		allIn   = make(chan struct{})
		done    [n + 1]chan struct{}
	)
	started.Add(n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	close(done[n])
	go func() {
		started.Wait()
		close(allIn)
	}()
	slow := func(_ *Server, _ context.Context, r *request) (Reply, error) {
		mu.Lock()
		called = append(called, r.corr)
		mu.Unlock()
		if r.corr >= n {
			return Reply{None: true}, nil // a fire-and-forget request in between
		}
		i := r.corr
		return Reply{Later: func(ctx context.Context) kmsg.Response {
			resp := r.msg.ResponseKind().(*kmsg.MetadataResponse)
			started.Done()
			select {
			case <-allIn:
			case <-time.After(10 * time.Second):
				resp.ControllerID = -100 // not concurrent
			}
			<-done[i+1] // the next request finishes first
			close(done[i])
			return resp
		}}, nil
	}
	s := startServer(t, func(s *Server) {
		h := s.handlers[kmsg.Metadata.Int16()]
		h.fn = slow
		s.handlers[kmsg.Metadata.Int16()] = h
	})
	c := s.dial(t)
	var frames []byte
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	for i := range int32(n) {
		frames = append(frames, encodeRequest(req, i)...)
		frames = append(frames, encodeRequest(req, n+i)...) // no response
	}
	c.write(frames)
	for i := range int32(n) {
		resp := c.recv(req, i).(*kmsg.MetadataResponse)
		if resp.ControllerID == -100 {
			t.Fatalf("request %d: deferred parts did not run concurrently", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, corr := range called {
		want := int32(i / 2)
		if i%2 == 1 {
			want += n
		}
		if corr != want {
			t.Fatalf("handlers called in order %v", called)
		}
	}
	if got := s.counter("Metadata", resultNoResponse); got != n {
		t.Errorf("no_response counter %v, want %d", got, n)
	}
}

func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxRequestBytes = 64 << 10 })
	cl, _ := s.clients(t)
	ctx := testContext(t)
	check := func() {
		t.Helper()
		if _, err := metadataRequest(true, "still-works").RequestWith(ctx, cl); err != nil {
			t.Fatalf("other client: %v", err)
		}
	}
	check()

	header := func(key, version int16, corr int32) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		return append(b, 0, 3, 'c', 'l', 'i') // client id
	}
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	meta.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("some-topic")}}
	good := encodeRequest(meta, 5)

	cases := []struct {
		name   string
		bytes  []byte
		api    string
		result string
	}{
		{"oversize length", binary.BigEndian.AppendUint32(nil, 64<<10+1), "Unknown", resultTooLarge},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xfe}, "Unknown", resultTooLarge},
		{"empty frame", frame(nil), "Unknown", resultMalformed},
		{"garbage", frame([]byte("\x00\x03\x00\x0cGARBAGE GARBAGE GARBAGE")), "Metadata", resultMalformed},
		{"unknown key", frame(header(9999, 0, 1)), "Unknown", resultUnsupported},
		{"unsupported version", frame(header(kmsg.Metadata.Int16(), 99, 1)), "Metadata", resultUnsupported},
		{"truncated body", append(binary.BigEndian.AppendUint32(nil, uint32(len(good)-4-3)), good[4:len(good)-3]...), "Metadata", resultMalformed},
		{"truncated client id", frame(append(header(kmsg.Metadata.Int16(), 1, 1)[:8], 0, 9, 'x')), "Metadata", resultMalformed},
	}
	for _, tc := range cases {
		before := s.counter(tc.api, tc.result)
		c := s.dial(t)
		// A valid request first: it is answered before the connection closes.
		c.write(good)
		c.write(tc.bytes)
		if _, _, err := c.readFrame(); err != nil {
			t.Fatalf("%s: valid request before the bad one not answered: %v", tc.name, err)
		}
		c.expectClosed()
		if got := s.counter(tc.api, tc.result); got != before+1 {
			t.Errorf("%s: requests_total{api=%q,result=%q} went from %v to %v", tc.name, tc.api, tc.result, before, got)
		}
		check()
	}

	// A frame cut short by the client going away.
	c := s.dial(t)
	c.write(good[:len(good)/2])
	c.nc.(*net.TCPConn).CloseWrite()
	c.expectClosed()
	check()
}

func TestHandlerPanicClosesConnection(t *testing.T) {
	s := startServer(t, func(s *Server) {
		h := s.handlers[kmsg.DescribeCluster.Int16()]
		h.fn = func(*Server, context.Context, *request) (Reply, error) { panic("boom") }
		s.handlers[kmsg.DescribeCluster.Int16()] = h
		h = s.handlers[kmsg.InitProducerID.Int16()]
		h.fn = func(*Server, context.Context, *request) (Reply, error) {
			return Reply{Later: func(context.Context) kmsg.Response { panic("later boom") }}, nil
		}
		s.handlers[kmsg.InitProducerID.Int16()] = h
	})
	cl, _ := s.clients(t)
	ctx := testContext(t)
	for _, req := range []kmsg.Request{kmsg.NewPtrDescribeClusterRequest(), kmsg.NewPtrInitProducerIDRequest()} {
		c := s.dial(t)
		c.send(req, 0, 1)
		c.expectClosed()
		if _, err := metadataRequest(false).RequestWith(ctx, cl); err != nil {
			t.Fatalf("other client after a panic: %v", err)
		}
	}
	if s.counter("DescribeCluster", resultFailed) != 1 || s.counter("InitProducerID", resultFailed) != 1 {
		t.Errorf("failed counters %v %v", s.counter("DescribeCluster", resultFailed), s.counter("InitProducerID", resultFailed))
	}
}

// blockingMetadata makes Metadata requests wait for release (or their
// context) and reports each call on entered.
func blockingMetadata(entered chan<- struct{}, release <-chan struct{}, cancelled chan<- struct{}) func(*Server) {
	return func(s *Server) {
		h := s.handlers[kmsg.Metadata.Int16()]
		h.fn = func(_ *Server, _ context.Context, r *request) (Reply, error) {
			return Reply{Later: func(ctx context.Context) kmsg.Response {
				entered <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
					cancelled <- struct{}{}
				}
				return r.msg.ResponseKind()
			}}, nil
		}
		s.handlers[kmsg.Metadata.Int16()] = h
	}
}

func TestShutdownFinishesInFlightRequests(t *testing.T) {
	entered, release, cancelled := make(chan struct{}, 1), make(chan struct{}), make(chan struct{}, 1)
	s := startServer(t, blockingMetadata(entered, release, cancelled))
	c := s.dial(t)
	req := kmsg.NewPtrMetadataRequest()
	c.send(req, 12, 3)
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	testenv.WaitFor(t, 10*time.Second, "the listener to close", func() bool {
		nc, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return true
		}
		nc.Close()
		return false
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	c.recv(req, 3)
	c.expectClosed()
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestShutdownDeadlineCancelsInFlight(t *testing.T) {
	entered, release, cancelled := make(chan struct{}, 1), make(chan struct{}), make(chan struct{}, 1)
	defer close(release)
	s := startServer(t, blockingMetadata(entered, release, cancelled))
	c := s.dial(t)
	c.send(kmsg.NewPtrMetadataRequest(), 12, 3)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request not cancelled")
	}
	c.expectClosed()
}

func TestIdleConnectionsClosed(t *testing.T) {
	const idle = 200 * time.Millisecond
	s := startServer(t, func(c *Config) { c.IdleTimeout = idle }, func(s *Server) {
		// Metadata takes three idle periods to answer.
		h := s.handlers[kmsg.Metadata.Int16()]
		h.fn = func(_ *Server, _ context.Context, r *request) (Reply, error) {
			return Reply{Later: func(ctx context.Context) kmsg.Response {
				select {
				case <-time.After(3 * idle):
				case <-ctx.Done():
				}
				return r.msg.ResponseKind()
			}}, nil
		}
		s.handlers[kmsg.Metadata.Int16()] = h
	})
	// A request in flight is not idleness.
	c := s.dial(t)
	c.roundTrip(kmsg.NewPtrMetadataRequest(), 12)
	// Silence is.
	start := time.Now()
	c.expectClosed()
	if since := time.Since(start); since < idle/2 {
		t.Fatalf("closed after %s, idle timeout is %s", since, idle)
	}
}

func TestConfigFlagsAndValidate(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxRequestBytes != 100<<20 || cfg.DefaultPartitions != 3 || !cfg.AutoCreateTopics || cfg.ListenAddress != ":9092" ||
		cfg.IdleTimeout != 10*time.Minute || cfg.NodeID != 0 || cfg.ClusterID == "" ||
		cfg.TopicCacheTTL != time.Second || cfg.FetchMaxWait != 30*time.Second ||
		cfg.MaxConnections != 10000 || cfg.MaxConnectionsPerIP != 1000 || cfg.MaxQueuedRequestBytes != 256<<20 ||
		cfg.RequestReadTimeout != 30*time.Second || cfg.MaxMetadataLookups != 1000 || cfg.MaxAutoCreateTopics != 100 ||
		cfg.MaxTopicsPerRequest != 1000 {
		t.Fatalf("defaults %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	err := fs.Parse([]string{"-kafka.node-id=4", "-kafka.default-partitions=6", "-kafka.auto-create-topics=false",
		"-kafka.advertised-address=broker-4.example:19092", "-kafka.rack=eu-1a",
		"-kafka.max-connections=50", "-kafka.max-connections-per-ip=5", "-kafka.max-queued-request-bytes=300000000",
		"-kafka.request-read-timeout=5s", "-kafka.max-metadata-lookups=7", "-kafka.max-auto-create-topics=3",
		"-kafka.max-topics-per-request=9"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != 4 || cfg.DefaultPartitions != 6 || cfg.AutoCreateTopics || cfg.AdvertisedAddress != "broker-4.example:19092" || cfg.Rack != "eu-1a" ||
		cfg.MaxConnections != 50 || cfg.MaxConnectionsPerIP != 5 || cfg.MaxQueuedRequestBytes != 300000000 ||
		cfg.RequestReadTimeout != 5*time.Second || cfg.MaxMetadataLookups != 7 || cfg.MaxAutoCreateTopics != 3 || cfg.MaxTopicsPerRequest != 9 {
		t.Fatalf("parsed %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("parsed limits invalid: %v", err)
	}
	if err := fs.Parse([]string{"-kafka.node-id=99999999999"}); err == nil {
		t.Fatal("node id beyond int32 accepted")
	}

	bad := []func(*Config){
		func(c *Config) { c.ListenAddress = "nocolon" },
		func(c *Config) { c.AdvertisedAddress = "0.0.0.0:9092" },
		func(c *Config) { c.AdvertisedAddress = "host:0" },
		func(c *Config) { c.NodeID = -1 },
		func(c *Config) { c.ClusterID = "" },
		func(c *Config) { c.MaxRequestBytes = 10 },
		func(c *Config) { c.DefaultPartitions = 0 },
		func(c *Config) { c.MaxPartitionsPerTopic = 2 },
		func(c *Config) { c.IdleTimeout = -time.Second },
		func(c *Config) { c.MaxInFlightRequests = 0 },
		func(c *Config) { c.TopicCacheTTL = -time.Second },
		func(c *Config) { c.FetchMaxWait = -time.Second },
		func(c *Config) { c.MaxConnections = -1 },
		func(c *Config) { c.MaxConnectionsPerIP = -1 },
		func(c *Config) { c.MaxConnections, c.MaxConnectionsPerIP = 10, 11 },
		func(c *Config) { c.MaxQueuedRequestBytes = -1 },
		// A full-size Produce request could never be read.
		func(c *Config) { c.MaxQueuedRequestBytes = int64(c.MaxRequestBytes) * 2 },
		func(c *Config) { c.RequestReadTimeout = -time.Second },
		func(c *Config) { c.MaxMetadataLookups = -1 },
		func(c *Config) { c.MaxAutoCreateTopics = -1 },
		func(c *Config) { c.MaxTopicsPerRequest = -1 },
	}
	for i, mutate := range bad {
		c := cfg
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: invalid config accepted: %+v", i, c)
		}
	}
}

func TestErrorTranslation(t *testing.T) {
	s := NewServer(testConfig(t), Deps{Meta: newTestStore(t)}, testLogger(t), nil)
	cases := []struct {
		err  error
		want *kerr.Error
	}{
		{metastore.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
		{metastore.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
		{metastore.ErrTopicExists, kerr.TopicAlreadyExists},
		{metastore.ErrInvalidPartitions, kerr.InvalidPartitions},
		{metastore.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{metastore.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
		{metastore.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{metastore.ErrUnknownProducerID, kerr.UnknownProducerID},
		{ingest.ErrCorruptBatch, kerr.CorruptMessage},
		{ingest.ErrUnsupportedBatch, kerr.InvalidRecord},
		{ingest.ErrUploadFailed, kerr.KafkaStorageError},
		{ingest.ErrCommitFailed, kerr.KafkaStorageError},
		{ingest.ErrClosed, kerr.NotLeaderForPartition},
		{roleapi.ErrCorrupt, kerr.KafkaStorageError},
		{errorf(kerr.InvalidConfig, "bad"), kerr.InvalidConfig},
		{kerr.NotController, kerr.NotController},
	}
	for _, tc := range cases {
		wrapped := fmt.Errorf("create topic x: %w", tc.err)
		code, msg := s.errorCodeMessage("CreateTopics", wrapped)
		if code != tc.want.Code {
			t.Errorf("%v: code %d, want %s", tc.err, code, tc.want.Message)
		}
		if msg == nil || !strings.Contains(*msg, tc.err.Error()) {
			t.Errorf("%v: message %v", tc.err, msg)
		}
	}
	if code := s.errorCode("Metadata", nil); code != 0 {
		t.Errorf("nil error: code %d", code)
	}
	// Anything else is a failure of the metastore or the object store:
	// each API answers with a code its clients retry, with a fixed message
	// (the error's own text may name hosts and users).
	failures := []error{
		errors.New(`failed to connect to "user=strata database=strata": dial tcp 10.0.0.7:5432: connect: connection refused`),
		context.DeadlineExceeded,
		context.Canceled,
	}
	for api, want := range map[string]*kerr.Error{
		"Metadata":                kerr.LeaderNotAvailable,
		"Produce":                 kerr.KafkaStorageError,
		"Fetch":                   kerr.KafkaStorageError,
		"ListOffsets":             kerr.KafkaStorageError,
		"OffsetForLeaderEpoch":    kerr.KafkaStorageError,
		"CreateTopics":            kerr.NotController,
		"DeleteTopics":            kerr.NotController,
		"CreatePartitions":        kerr.NotController,
		"DescribeConfigs":         kerr.RequestTimedOut,
		"AlterConfigs":            kerr.RequestTimedOut,
		"IncrementalAlterConfigs": kerr.RequestTimedOut,
		"DeleteRecords":           kerr.RequestTimedOut,
		"InitProducerId":          kerr.CoordinatorLoadInProgress,
	} {
		if !want.Retriable {
			t.Fatalf("%s: %s is not retriable", api, want.Message)
		}
		for _, failure := range failures {
			code, msg := s.errorCodeMessage(api, fmt.Errorf("topic x: %w", failure))
			if code != want.Code {
				t.Errorf("%s, %v: code %d, want %s", api, failure, code, want.Message)
			}
			if msg == nil || strings.Contains(*msg, "10.0.0.7") || strings.Contains(*msg, "user=") {
				t.Errorf("%s: message %v", api, msg)
			}
		}
	}
	// The data path's sentinels are definitive answers.
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("read: %w", metastore.ErrOffsetOutOfRange), kerr.OffsetOutOfRange},
		{fmt.Errorf("append: %w", ingest.ErrCorruptBatch), kerr.CorruptMessage},
	} {
		if code, _ := s.dataErrorCode("Fetch", tc.err); code != tc.want.Code {
			t.Errorf("data path %v: code %d, want %s", tc.err, code, tc.want.Message)
		}
	}
	if code, _ := s.dataErrorCode("Produce", nil); code != 0 {
		t.Errorf("nil error: code %d", code)
	}
}

// TestCheckTopicConfig: the front door answers the checks of
// internal/topicconfig (whose value rules its own tests cover) with
// Kafka's codes: INVALID_CONFIG for an unknown name or a bad value,
// INVALID_REQUEST for a null value.
func TestCheckTopicConfig(t *testing.T) {
	ok, bad := "compact, delete", "-2"
	for _, tc := range []struct {
		name  string
		value *string
		want  error
	}{
		{"cleanup.policy", &ok, nil},
		{"retention.ms", &bad, kerr.InvalidConfig},
		{"no.such.config", &ok, kerr.InvalidConfig},
		{"retention.ms", nil, kerr.InvalidRequest},
	} {
		err := checkTopicConfig(tc.name, tc.value)
		var we *wireError
		if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !errors.As(err, &we)) {
			t.Errorf("%s=%v: %v, want %v", tc.name, tc.value, err, tc.want)
		}
	}
	if err := checkTopicConfig("retention.ms", &bad); err.Error() != `invalid value "-2" for topic config "retention.ms": below -1` {
		t.Errorf("message %q", err)
	}
}

// TestResponseSizeHint: a fetch response is encoded into a buffer sized by
// its hint without growing it, whatever the version.
func TestResponseSizeHint(t *testing.T) {
	for _, version := range []int16{4, 11, 12, 13, 16} {
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(version)
		for ti := range 3 {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = fmt.Sprintf("topic-%d", ti)
			rt.TopicID = [16]byte{byte(ti + 1)}
			for p := range 64 {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = int32(p)
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 1<<40, 1<<40, 1<<39
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = 7, 9
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 3, 1<<33
				rp.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, p%3)
				rp.RecordBatches = make([]byte, 1000*p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		hint := responseSizeHint(resp)
		buf := responseBuffer(nil, hint)
		out := appendResponse(buf, 1, resp)
		if len(out) > hint || cap(out) != cap(buf) {
			t.Errorf("v%d: hint %d, encoded %d bytes: the buffer grew", version, hint, len(out))
		}
		if len(out) < hint*99/100 {
			t.Errorf("v%d: hint %d is more than 1%% above the encoded %d bytes", version, hint, len(out))
		}
	}
	if got := responseSizeHint(kmsg.NewPtrMetadataResponse()); got != 0 {
		t.Errorf("metadata response hint %d, want 0", got)
	}
}
