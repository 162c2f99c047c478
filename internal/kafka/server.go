package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("kafka: server closed")

// MetaStore is what the front door needs of the metastore; metastore.Store
// implements it.
type MetaStore interface {
	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metastore.Topic, error)
	TopicByName(ctx context.Context, name string) (metastore.Topic, error)
	TopicByID(ctx context.Context, id uuid.UUID) (metastore.Topic, error)
	ListTopics(ctx context.Context) ([]metastore.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, name string, total int32) error
	SetTopicConfigs(ctx context.Context, name string, set map[string]*string) error
	Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error)
	AllocateProducerID(ctx context.Context) (int64, error)
	DeleteRecords(ctx context.Context, topicID uuid.UUID, partition int32, offset int64) (int64, error)
	ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) ([]metastore.Chunk, error)
	ChunkForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (metastore.Chunk, bool, error)
	OffsetForLeaderEpoch(ctx context.Context, topicID uuid.UUID, partition int32, epoch int32) (metastore.EpochEnd, error)
	GroupLeaseHolder(ctx context.Context, group string) (metastore.GroupLease, bool, error)
	metastore.TxnIndexStore
}

// Ingester is the produce path; *ingest.Ingester implements it.
type Ingester interface {
	// Enqueue checks and queues one request's partitions; calls made one
	// after another keep their order in every partition.
	Produce(ctx context.Context, parts []roleapi.PartitionRecords) (roleapi.Pending, error)
}

// Reader is the fetch path; *reader.Reader implements it.
type Reader interface {
	TxnReader
	ReadBatches(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, maxBytes int) (roleapi.ReadResult, error)
	Wait(ctx context.Context, watches []roleapi.Watch, maxWait time.Duration)
	OffsetForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (offset, timestamp int64, err error)
	Offsets(ctx context.Context, topicID uuid.UUID, partition int32) (hwm, logStart int64, err error)
	// AtEnd answers, from the reader's cached state alone, a read that
	// would find nothing; false when it cannot tell without reading.
	AtEnd(topicID uuid.UUID, partition int32, offset int64) (roleapi.ReadResult, bool)
	// Freshen re-reads the stale cached offsets of many partitions at
	// once, one metastore query per topic.
	Freshen(ctx context.Context, parts []roleapi.Watch)
}

// Deps are the collaborators of the front door.
type Deps struct {
	// Meta is required.
	Meta MetaStore
	// Ingest serves Produce. When nil, Produce is not served (nor
	// advertised in ApiVersions). When Cluster says this node does not run
	// the ingest role, Produce is answered NOT_LEADER_OR_FOLLOWER instead.
	Ingest Ingester
	// Reader serves Fetch, ListOffsets and OffsetForLeaderEpoch. When nil,
	// they are not served.
	Reader Reader
	// Groups serves the consumer-group APIs. When nil, they are not served.
	Groups GroupCoordinator
	// Txn coordinates transactional ids. When nil, the transactional APIs
	// are not served and transactional producers are refused.
	Txn TxnCoordinator
	// Cluster tells the live brokers, partition leaders and group
	// coordinators. When nil, this node is the whole cluster.
	Cluster ClusterView
	// SASL authenticates the clients of SASL_PLAINTEXT and SASL_SSL
	// listeners; required when there are such listeners.
	SASL *sasl.Server
	// Scram keeps the SCRAM credentials that DescribeUserScramCredentials
	// and AlterUserScramCredentials manage. When nil, they are not served.
	Scram metastore.ScramStore
	// ACLs are the access control lists every request is authorized
	// with, under the policy of Config.Auth. When nil, no resource has an
	// ACL: the policy alone decides (with its defaults, everything is
	// allowed), and CreateAcls, DescribeAcls and DeleteAcls are not
	// served.
	ACLs *acl.Cache
	// Share keeps the state of share groups (KIP-932). When nil, or
	// without Reader, the share-group APIs are not served.
	Share metastore.ShareStore
}

// Server serves the Kafka protocol on any number of listeners.
type Server struct {
	cfg      Config
	meta     MetaStore
	ingest   Ingester         // nil: Produce not served
	reader   Reader           // nil: the fetch APIs not served
	groups   GroupCoordinator // nil: the group APIs not served
	txn      TxnCoordinator   // nil: the transactional APIs not served
	cluster  ClusterView      // nil: a single-node cluster
	acls     *acl.Cache       // nil: no ACLs, and the ACL APIs not served
	policy   acl.Policy       // super users, and what no ACL allows
	audit    *slog.Logger     // denials and ACL changes
	topics   *topicCache
	log      *slog.Logger
	metrics  *metrics
	handlers handlerTable

	// tls is the configuration of the SSL and SASL_SSL listeners; nil
	// when there are none, or tlsErr when it could not be loaded.
	tls    *tls.Config
	tlsErr error
	// sasl authenticates on SASL listeners; nil when there are none.
	sasl *sasl.Server
	// authFailures delays the answers to failed authentications, by
	// client address.
	authFailures *failureDelay
	auth         *authMetrics

	scram metastore.ScramStore // nil: the SCRAM credential APIs not served
	share *shareServer         // nil: the share-group APIs not served

	// budget is the node's budget of request bytes.
	budget *requestBudget
	// rateLog rate-limits the log lines of failures clients retry in a
	// loop: collaborators' failures, refused connections and requests.
	rateLog rateLog

	// quotas enforces the client quotas.
	quotas *quotas
	// connRates enforces the connection creation rates.
	connRates *connRates

	// fetchRedirects counts fetch partitions sent to another node (KIP-392).
	fetchRedirects prometheus.Counter
	// sessions are the node's incremental fetch sessions (KIP-227).
	sessions *fetchSessions

	// baseCtx is the parent of every connection's context; cancelled when
	// Shutdown gives up waiting.
	baseCtx    context.Context
	baseCancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perAddr   map[string]int // open connections by client address
	// served are the listeners being served, in the order Serve was
	// called, with their advertised addresses.
	served []*listener
	wg     sync.WaitGroup // connections
}

// NewServer returns a server; cfg must have passed Validate. A nil reg
// registers the metrics nowhere.
func NewServer(cfg Config, deps Deps, logger *slog.Logger, reg prometheus.Registerer) *Server {
	if deps.Meta == nil {
		panic("kafka: NewServer without a metastore")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if isNil(deps.Ingest) {
		deps.Ingest = nil
	}
	if isNil(deps.Reader) {
		deps.Reader = nil
	}
	if isNil(deps.Groups) {
		deps.Groups = nil
	}
	if isNil(deps.Cluster) {
		deps.Cluster = nil
	}
	if deps.Cluster != nil && !deps.Cluster.Self().Roles.Has(cluster.RoleIngest) {
		// Still served, so that clients with stale metadata are sent to a
		// leader rather than failing on an API the broker lacks.
		deps.Ingest = notIngest{node: deps.Cluster.Self().ID}
	}
	// A node with a listener that authenticates (SASL, or client
	// certificates asked for) denies what no ACL allows, unless
	// -auth.allow-everyone-if-no-acl-found says otherwise.
	cfg.Authenticates = cfg.Authenticates || cfg.listenersAuthenticate()
	ctx, cancel := context.WithCancel(context.Background())
	m := newMetrics(reg)
	s := &Server{
		cfg:      cfg,
		meta:     deps.Meta,
		ingest:   deps.Ingest,
		reader:   deps.Reader,
		groups:   deps.Groups,
		cluster:  deps.Cluster,
		acls:     deps.ACLs,
		policy:   cfg.Auth.Policy(cfg.Authenticates),
		audit:    newAuditLog(logger),
		topics:   newTopicCache(deps.Meta, cfg.TopicCacheTTL, cfg.TopicDefaults, m),
		log:      logger.With("component", "kafka"),
		metrics:  m,
		handlers: newHandlerTable(deps.Ingest != nil, deps.Reader != nil, deps.Groups != nil, deps.ACLs != nil),

		fetchRedirects: newFetchRedirects(reg),
		baseCtx:        ctx,
		baseCancel:     cancel,
		listeners:      map[net.Listener]struct{}{},
		conns:          map[*conn]struct{}{},
		perAddr:        map[string]int{},
	}
	s.scram, s.handlers = withoutScram(deps.Scram, s.handlers)
	s.share, s.handlers = withShare(s, deps.Share, s.handlers)
	s.txn, s.handlers = withoutTxn(deps.Txn, s.handlers)
	s.budget = newRequestBudget(cfg.MaxQueuedRequestBytes, m)
	s.sessions = newFetchSessions(cfg.FetchSessionCacheSlots, cfg.FetchSessionEviction)
	registerFetchSessionMetrics(reg, s.sessions)
	s.quotas = newQuotas(ctx, cfg.Quotas, deps.Meta, s.log, reg)
	s.connRates = newConnRates(cfg, reg)
	s.auth = newAuthMetrics(reg)
	s.sasl, s.authFailures = deps.SASL, newFailureDelay()
	if ls, err := cfg.ListenerSet(); err == nil && slices.ContainsFunc(ls, Listener.TLS) {
		s.tls, s.tlsErr = newListenerTLS(cfg.TLS)
	}
	return s
}

// listener is a listener being served.
type listener struct {
	Listener
	host string // advertised
	port int32
	tls  *tls.Config // nil: plaintext
}

// Serve serves ln as the first listener of the configuration (the
// PLAINTEXT listener of -kafka.listen-address when -kafka.listeners is
// not set); see ServeListener.
func (s *Server) Serve(ln net.Listener) error {
	ls, err := s.cfg.ListenerSet()
	if err != nil {
		ln.Close()
		return err
	}
	return s.ServeListener(ln, ls[0])
}

// ServeListener accepts connections on ln as listener l until Shutdown,
// then returns ErrServerClosed. It closes ln. It may be called for
// several listeners; each connection knows its listener, and is told the
// addresses of that listener (l.Advertised, or else ln's address).
func (s *Server) ServeListener(ln net.Listener, l Listener) error {
	sl := &listener{Listener: l}
	if l.TLS() {
		if sl.tls = s.tls; sl.tls == nil {
			ln.Close()
			if s.tlsErr != nil {
				return fmt.Errorf("kafka: listener %s: %w", l.Name, s.tlsErr)
			}
			return fmt.Errorf("kafka: listener %s: no TLS configuration", l.Name)
		}
	}
	if l.SASL() && s.sasl == nil {
		ln.Close()
		return fmt.Errorf("kafka: listener %s: no SASL server", l.Name)
	}
	if l.Advertised != "" {
		host, port, err := splitAdvertised(l.Advertised)
		if err != nil {
			ln.Close()
			return fmt.Errorf("kafka: listener %s: advertised address %q: %w", l.Name, l.Advertised, err)
		}
		sl.host, sl.port = host, port
	} else {
		sl.host, sl.port = advertisedFromListener(ln.Addr())
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.served = append(s.served, sl)
	s.mu.Unlock()
	s.log.Info("listening", "listener", l.Name, "protocol", l.Protocol, "addr", ln.Addr().String(),
		"advertised", joinHostPort(sl.host, sl.port))

	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("kafka: accept: %w", err)
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.startConn(nc, sl)
		s.connRates.waitAccept()
	}
}

// Shutdown stops accepting connections and reading requests, lets the
// requests already read finish and their responses be written, then closes
// every connection. When ctx ends first, it closes the connections at once,
// cancelling the work still in flight, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.connRates.close()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.baseCancel()
		return nil
	case <-ctx.Done():
		s.baseCancel()
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		return fmt.Errorf("kafka: shutdown: %w", ctx.Err())
	}
}

// startConn serves nc, accepted on l, in its own goroutine.
func (s *Server) startConn(nc net.Conn, l *listener) {
	c, ok := s.addConn(nc, l)
	if !ok {
		return
	}
	go func() {
		defer s.wg.Done()
		s.runConn(c)
	}()
}

// serveConn serves nc as a connection of the first listener and returns
// when the connection is closed.
func (s *Server) serveConn(nc net.Conn) {
	c, ok := s.addConn(nc, s.firstListener())
	if !ok {
		return
	}
	defer s.wg.Done()
	s.runConn(c)
}

// addConn registers a new connection, or closes it at once when the
// server is closing or a connection limit is reached (Kafka closes such
// connections too: max.connections, max.connections.per.ip). A refused
// connection costs nothing but its accept.
func (s *Server) addConn(nc net.Conn, l *listener) (*conn, bool) {
	addr := clientAddr(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		nc.Close()
		return nil, false
	}
	reason := ""
	switch {
	case s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections:
		reason = rejectMaxConnections
	case s.cfg.MaxConnectionsPerIP > 0 && s.perAddr[addr] >= s.cfg.MaxConnectionsPerIP:
		reason = rejectMaxConnectionsPerIP
	}
	if reason == "" && s.refuseByRate(nc, addr) {
		return nil, false
	}
	if reason != "" {
		// Counted before the close, so that whoever sees the connection
		// closed finds it counted.
		s.metrics.connRejected.WithLabelValues(reason).Inc()
		nc.Close()
		if ok, n := s.rateLog.allow("reject " + reason); ok {
			s.log.Warn("connection refused: limit reached", "reason", reason, "client", addr,
				"connections", len(s.conns), "from_client", s.perAddr[addr], "refused", n)
		}
		return nil, false
	}
	if l.tls != nil {
		nc = tls.Server(nc, l.tls) // the handshake is the connection's first read
	}
	c := newConn(s, nc)
	c.addr, c.listener = addr, l
	s.conns[c] = struct{}{}
	s.perAddr[addr]++
	s.wg.Add(1)
	return c, true
}

func (s *Server) runConn(c *conn) {
	s.metrics.connections.Inc()
	defer s.metrics.connections.Dec()
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	if s.perAddr[c.addr]--; s.perAddr[c.addr] <= 0 {
		delete(s.perAddr, c.addr)
	}
	s.mu.Unlock()
}

// firstListener is the listener Serve serves: the first of the
// configuration, with its advertised address.
func (s *Server) firstListener() *listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.served) > 0 {
		return s.served[0]
	}
	ls, _ := s.cfg.ListenerSet()
	l := &listener{Listener: Listener{Name: "PLAINTEXT", Protocol: "PLAINTEXT"}, host: "localhost", port: 9092}
	if len(ls) > 0 {
		l.Listener = ls[0]
	}
	return l
}

// endpoints returns the advertised address of every listener served, in
// the order they were served; one of localhost:9092 before any is.
func (s *Server) endpoints() []cluster.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.served) == 0 {
		return []cluster.Endpoint{{Listener: "PLAINTEXT", Host: "localhost", Port: 9092}}
	}
	out := make([]cluster.Endpoint, len(s.served))
	for i, l := range s.served {
		out[i] = cluster.Endpoint{Listener: l.Name, Host: l.host, Port: l.port}
	}
	return out
}

// advertisedFromListener derives an address clients can dial from a
// listener's address: a wildcard address is replaced by the host name.
func advertisedFromListener(addr net.Addr) (string, int32) {
	host, portStr, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "localhost", 9092
	}
	port, _ := strconv.ParseUint(portStr, 10, 16)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
		}
	}
	return host, int32(port)
}

// isNil reports whether v is nil or a nil pointer in an interface, so that
// Deps{Ingest: (*ingest.Ingester)(nil)} means "no produce path".
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func joinHostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
