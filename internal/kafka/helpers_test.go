package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/sqlite"
	"github.com/stratalog/strata/reader"
)

const testNodeID = 7

// testConfig is the default configuration as the flags set it, listening on
// a random local port.
func testConfig(t testing.TB) Config {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.NodeID = testNodeID
	cfg.Rack = "zone-a"
	cfg.ClusterID = "test-cluster"
	return cfg
}

// newTestStore opens a fresh SQLite metastore.
func newTestStore(t testing.TB) *sqlite.Store {
	t.Helper()
	store, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "meta.db")}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("open sqlite metastore: %v", err)
	}
	t.Cleanup(store.Close)
	return store
}

type testServer struct {
	*Server
	addr   string
	store  *sqlite.Store
	ingest *ingest.Ingester
	reader *reader.Reader
}

// testFlushInterval is the ingest flush interval of test servers: short,
// so that produce round trips are fast.
const testFlushInterval = 10 * time.Millisecond

// noDataPath is a startServer option: serve without the produce and fetch
// paths.
type noDataPath struct{}

// metaWrapper is a startServer option: the server sees the metastore
// through the wrapper (the data path uses the store itself).
type metaWrapper func(MetaStore) MetaStore

// countingStore counts the topic lookups that reach the metastore:
// topics by name or id, and partitions of a topic.
type countingStore struct {
	MetaStore
	lookups    atomic.Int64
	partitions atomic.Int64
}

func (c *countingStore) Partitions(ctx context.Context, id uuid.UUID) ([]metastore.Partition, error) {
	c.partitions.Add(1)
	return c.MetaStore.Partitions(ctx, id)
}

func (c *countingStore) TopicByName(ctx context.Context, name string) (metastore.Topic, error) {
	c.lookups.Add(1)
	return c.MetaStore.TopicByName(ctx, name)
}

func (c *countingStore) TopicByID(ctx context.Context, id uuid.UUID) (metastore.Topic, error) {
	c.lookups.Add(1)
	return c.MetaStore.TopicByID(ctx, id)
}

// newDataPath builds a produce path and a reader over store and a fresh
// local-directory object store, closed when the test ends.
func newDataPath(t testing.TB, store *sqlite.Store, logger *slog.Logger) (*ingest.Ingester, *reader.Reader) {
	t.Helper()
	objects, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rcfg := reader.Defaults()
	if err := rcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rd := reader.New(rcfg, store, objects, logger, prometheus.NewRegistry())
	icfg := ingest.Defaults()
	icfg.FlushInterval = testFlushInterval
	icfg.MemoryBudget = 64 << 20
	ing, err := ingest.New(icfg, store, objects, rd, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ing.Close(ctx); err != nil {
			t.Errorf("close ingest: %v", err)
		}
	})
	return ing, rd
}

// startServer runs a server on 127.0.0.1:0 over a fresh SQLite metastore,
// with a produce path and a reader over a local-directory object store.
// Options change the config, or the server before it serves; noDataPath{}
// leaves the data path out.
func startServer(t testing.TB, opts ...any) *testServer {
	t.Helper()
	cfg := testConfig(t)
	withData, withGroups := true, true
	for _, o := range opts {
		switch f := o.(type) {
		case func(*Config):
			f(&cfg)
		case noDataPath:
			withData = false
		case noGroups:
			withGroups = false
		}
	}
	store := newTestStore(t)
	var meta MetaStore = store
	for _, o := range opts {
		if w, ok := o.(metaWrapper); ok {
			meta = w(meta)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logger := testLogger(t)
	deps := Deps{Meta: meta}
	ts := &testServer{store: store}
	if withData {
		ts.ingest, ts.reader = newDataPath(t, store, logger)
		deps.Ingest, deps.Reader = ts.ingest, ts.reader
		deps.Share = store
	}
	if withGroups {
		deps.Groups = newTestGroups(t, store, logger)
	}
	s := NewServer(cfg, deps, logger, prometheus.NewRegistry())
	for _, o := range opts {
		if f, ok := o.(func(*Server)); ok {
			f(s)
		}
	}
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	ts.Server, ts.addr = s, ln.Addr().String()
	return ts
}

// counter reads strata_kafka_requests_total{api,result}.
func (s *testServer) counter(api, result string) float64 {
	return testutil.ToFloat64(s.metrics.requests.WithLabelValues(api, result))
}

// testLogger logs to the test's output, at debug level when -v.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// clients returns a franz-go client and its admin client for the server.
func (s *testServer) clients(t testing.TB, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawConn is a client connection that writes and reads frames by hand.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func (s *testServer) dial(t testing.TB) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// encodeRequest is a whole request frame, as a client writes it.
func encodeRequest(req kmsg.Request, corr int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test")).AppendRequest(nil, req, corr)
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes req at version v.
func (c *rawConn) send(req kmsg.Request, v int16, corr int32) {
	c.t.Helper()
	req.SetVersion(v)
	c.write(encodeRequest(req, corr))
}

// readFrame reads one response frame: correlation id and the rest.
func (c *rawConn) readFrame() (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.br, body); err != nil {
		return 0, nil, err
	}
	if len(body) < 4 {
		return 0, nil, errors.New("response shorter than a correlation id")
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:], nil
}

// recv reads the response to req (sent at its current version) and checks
// its correlation id.
func (c *rawConn) recv(req kmsg.Request, corr int32) kmsg.Response {
	c.t.Helper()
	got, body, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	if got != corr {
		c.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp, err := decodeResponse(req.Key(), req.GetVersion(), body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// roundTrip sends req at version v and returns its response.
func (c *rawConn) roundTrip(req kmsg.Request, v int16) kmsg.Response {
	c.t.Helper()
	c.send(req, v, 99)
	return c.recv(req, 99)
}

// decodeResponse decodes a response body (after the correlation id).
func decodeResponse(key, version int16, body []byte) (kmsg.Response, error) {
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(version)
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		if len(body) == 0 || body[0] != 0 {
			return nil, errors.New("response header tagged fields are not empty")
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

// expectClosed checks that the server closes the connection, without
// answering, before the deadline.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [1]byte
	n, err := c.br.Read(buf[:])
	if n > 0 {
		c.t.Fatalf("server answered instead of closing the connection")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("server did not close the connection")
	}
}
