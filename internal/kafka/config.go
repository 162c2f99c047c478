package kafka

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/internal/topicconfig"
)

// Config configures the Kafka front door.
type Config struct {
	// ListenAddress is the host:port the Kafka listener binds.
	ListenAddress string
	// AdvertisedAddress is the host:port clients are told to connect to.
	// Empty means the listener's own address.
	AdvertisedAddress string
	// Listeners, AdvertisedListeners and ListenerSecurityProtocolMap are
	// Kafka's listeners, advertised.listeners and
	// listener.security.protocol.map (see ParseListeners). When Listeners
	// is empty, ListenAddress and AdvertisedAddress are the one PLAINTEXT
	// listener.
	Listeners                   string
	AdvertisedListeners         string
	ListenerSecurityProtocolMap string
	// TLS is the certificate of the SSL and SASL_SSL listeners and their
	// check of client certificates.
	TLS TLSConfig
	// SASL is the mechanisms of the SASL_PLAINTEXT and SASL_SSL listeners.
	SASL sasl.Config
	// SASLMaxReauth is Kafka's connections.max.reauth.ms: a SASL
	// connection must authenticate again within this long (KIP-368) or is
	// closed. Zero: never.
	SASLMaxReauth time.Duration
	// NodeID is this node's broker id in Metadata responses.
	NodeID int32
	// Rack is this node's rack (zone); empty means none.
	Rack string
	// ClusterID is reported in Metadata and DescribeCluster responses.
	ClusterID string
	// MaxRequestBytes is the largest request frame accepted, as Kafka's
	// socket.request.max.bytes. A larger frame closes the connection.
	MaxRequestBytes int
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics requests that ask for -1, as Kafka's num.partitions.
	DefaultPartitions int32
	// MaxPartitionsPerTopic bounds the partition count CreateTopics and
	// CreatePartitions accept.
	MaxPartitionsPerTopic int32
	// AutoCreateTopics enables creating unknown topics on Metadata requests,
	// as Kafka's auto.create.topics.enable.
	AutoCreateTopics bool
	// IdleTimeout closes connections without requests for this long, as
	// Kafka's connections.max.idle.ms. Zero disables it.
	IdleTimeout time.Duration
	// MaxInFlightRequests bounds the requests of one connection that are
	// read but not yet answered; reading pauses at the bound.
	MaxInFlightRequests int
	// TopicCacheTTL is how long a topic's id, configs and partitions are
	// used by Produce, Fetch and Metadata before they are read again. This
	// node's own topic changes take effect at once; other nodes' after at
	// most this long. Zero reads the metastore on every request.
	TopicCacheTTL time.Duration
	// FetchMaxWait caps the time a Fetch waits for MinBytes, whatever
	// MaxWaitMillis the client asks for. Zero means no cap.
	FetchMaxWait time.Duration

	// Limits that keep one client from taking the node's memory or its
	// metastore (see doc.go, "Limits"). Zero disables a limit.

	// MaxConnections bounds the node's client connections, as Kafka's
	// max.connections: a connection beyond it is closed at once.
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections from one client address,
	// as Kafka's max.connections.per.ip.
	MaxConnectionsPerIP int
	// MaxConnectionCreationRate and ConnectionCreationRatePerIP bound the
	// new connections per second of the node and of one client address,
	// as Kafka's max.connection.creation.rate and connection_creation_rate
	// ip quota (KIP-612; conn_limits.go).
	MaxConnectionCreationRate   float64
	ConnectionCreationRatePerIP float64
	// MaxQueuedRequestBytes bounds the memory of the requests being read
	// and handled across all connections, as Kafka's
	// queued.max.request.bytes: a connection whose next request does not
	// fit stops reading until it does. A request is charged more than its
	// frame (see requestCharge), so that the structures it decodes to are
	// bounded as well.
	MaxQueuedRequestBytes int64
	// RequestReadTimeout bounds the time the rest of a request may take to
	// arrive once its length has been read: a client that starts a request
	// and stalls has its connection closed, rather than holding its buffer
	// until IdleTimeout.
	RequestReadTimeout time.Duration
	// MaxMetadataLookups bounds the topics of one Metadata request that
	// are looked up in the metastore (those the topic cache cannot
	// answer); the rest are answered LEADER_NOT_AVAILABLE, which clients
	// retry, by then from the cache.
	MaxMetadataLookups int
	// MaxAutoCreateTopics bounds the topics one Metadata request creates;
	// the rest are answered LEADER_NOT_AVAILABLE, as Kafka answers a topic
	// still being created, and are created on a later request.
	MaxAutoCreateTopics int
	// MaxTopicsPerRequest bounds the topics one CreateTopics, DeleteTopics
	// or CreatePartitions request changes; the rest are answered
	// THROTTLING_QUOTA_EXCEEDED (INVALID_REQUEST at versions before that
	// code), and are changed by a later request.
	MaxTopicsPerRequest int
	// FetchSessionCacheSlots bounds the incremental fetch sessions
	// (KIP-227) the node keeps, as Kafka's
	// max.incremental.fetch.session.cache.slots; 0 keeps none, and every
	// fetch is a full one.
	FetchSessionCacheSlots int
	// FetchSessionEviction is how long a session must go unused before a
	// new session may take its slot, as Kafka's
	// min.incremental.fetch.session.eviction.ms.
	FetchSessionEviction time.Duration

	// Quotas configures the enforcement of client quotas (quota.go).
	Quotas QuotaConfig
	// Share configures share groups (share.go).
	Share ShareConfig

	// TopicDefaults are the values of the topic configs a topic does not
	// set, as this node enforces them: DescribeConfigs and CreateTopics
	// report them, and produce admits batches by them. They are not flags
	// of the front door but of the roles that enforce them (the
	// compactor's retention flags); internal/app fills them in. The zero
	// value is Kafka's defaults.
	TopicDefaults topicconfig.Defaults

	// Auth is the -auth.* flags: super users and what a resource no ACL
	// names allows (see docs/authorization.md).
	Auth acl.Config
	// Authenticates says that some listener of this node authenticates
	// its clients (SASL or client certificates). It makes
	// -auth.allow-everyone-if-no-acl-found default to false. It is not a
	// flag: the listener configuration decides it (internal/app).
	Authenticates bool
}

// Defaults of Config, as RegisterFlags sets them.
const (
	DefaultListenAddress       = ":9092"
	DefaultClusterID           = "strata"
	DefaultMaxRequestBytes     = 100 << 20
	DefaultDefaultPartitions   = 3
	DefaultMaxPartitions       = 10000
	DefaultIdleTimeout         = 10 * time.Minute
	DefaultMaxInFlightRequests = 16
	DefaultTopicCacheTTL       = time.Second
	DefaultFetchMaxWait        = 30 * time.Second

	DefaultMaxConnections        = 10000
	DefaultMaxConnectionsPerIP   = 1000
	DefaultMaxQueuedRequestBytes = 256 << 20
	DefaultRequestReadTimeout    = 30 * time.Second
	DefaultMaxMetadataLookups    = 1000
	DefaultMaxAutoCreateTopics   = 100
	DefaultMaxTopicsPerRequest   = 1000
	DefaultFetchSessionSlots     = 1000
	DefaultFetchSessionEviction  = 2 * time.Minute
)

// RegisterFlags registers the flags of c on fs with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddress, "kafka.listen-address", DefaultListenAddress, "host:port of the Kafka listener")
	fs.StringVar(&c.AdvertisedAddress, "kafka.advertised-address", "", "host:port advertised to clients (default: the listener's address)")
	fs.StringVar(&c.Listeners, "kafka.listeners", "", "Kafka listeners, NAME://host:port,... as Kafka's listeners (default: one PLAINTEXT listener on -kafka.listen-address)")
	fs.StringVar(&c.AdvertisedListeners, "kafka.advertised-listeners", "", "addresses advertised to the clients of each listener, NAME://host:port,... (default: each listener's address)")
	fs.StringVar(&c.ListenerSecurityProtocolMap, "kafka.listener-security-protocol-map", "", "security protocol of listener names that are not one, NAME:PROTOCOL,... (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)")
	fs.StringVar(&c.TLS.CertFile, "kafka.tls.cert-file", "", "PEM certificate chain of the SSL and SASL_SSL listeners; re-read when it changes")
	fs.StringVar(&c.TLS.KeyFile, "kafka.tls.key-file", "", "PEM private key of -kafka.tls.cert-file; re-read when it changes")
	c.TLS.registerPEMFlags(fs)
	fs.StringVar(&c.TLS.ClientCAFile, "kafka.tls.client-ca-file", "", "PEM certificates of the authorities whose client certificates are accepted")
	fs.StringVar(&c.TLS.ClientAuth, "kafka.tls.client-auth", ClientAuthNone, "client certificates on TLS listeners: none, request (checked when given) or require")
	fs.BoolVar(&c.TLS.PrincipalFromCN, "kafka.tls.principal-from-cn", false, "a client certificate's principal is User:<common name> instead of User:<subject distinguished name>")
	c.SASL.RegisterFlags(fs)
	fs.DurationVar(&c.SASLMaxReauth, "kafka.sasl.max-reauth", 0, "SASL connections must re-authenticate within this long or are closed, as Kafka's connections.max.reauth.ms (0: never)")
	fs.Var(newInt32Value(&c.NodeID, 0), "kafka.node-id", "broker id of this node")
	fs.StringVar(&c.Rack, "kafka.rack", "", "rack (zone) of this node reported to clients")
	fs.StringVar(&c.ClusterID, "kafka.cluster-id", DefaultClusterID, "cluster id reported to clients")
	fs.IntVar(&c.MaxRequestBytes, "kafka.max-request-bytes", DefaultMaxRequestBytes, "largest request accepted, in bytes")
	fs.Var(newInt32Value(&c.DefaultPartitions, DefaultDefaultPartitions), "kafka.default-partitions", "partitions of auto-created topics and of CreateTopics asking for -1")
	fs.Var(newInt32Value(&c.MaxPartitionsPerTopic, DefaultMaxPartitions), "kafka.max-partitions-per-topic", "most partitions a topic may have")
	fs.BoolVar(&c.AutoCreateTopics, "kafka.auto-create-topics", true, "create unknown topics when clients ask for their metadata")
	fs.DurationVar(&c.IdleTimeout, "kafka.idle-timeout", DefaultIdleTimeout, "close connections idle for this long (0: never)")
	fs.IntVar(&c.MaxInFlightRequests, "kafka.max-inflight-requests", DefaultMaxInFlightRequests, "requests of one connection read ahead of their responses")
	fs.DurationVar(&c.TopicCacheTTL, "kafka.topic-cache-ttl", DefaultTopicCacheTTL, "how long topic ids, configs and partitions are cached for produce and fetch (0: no cache)")
	fs.DurationVar(&c.FetchMaxWait, "kafka.fetch-max-wait", DefaultFetchMaxWait, "longest a fetch waits for data, whatever the client asks (0: no cap)")
	fs.IntVar(&c.MaxConnections, "kafka.max-connections", DefaultMaxConnections, "most client connections of the node; more are closed at once (0: no limit)")
	fs.IntVar(&c.MaxConnectionsPerIP, "kafka.max-connections-per-ip", DefaultMaxConnectionsPerIP, "most client connections from one address; more are closed at once (0: no limit)")
	c.registerConnRateFlags(fs)
	fs.Int64Var(&c.MaxQueuedRequestBytes, "kafka.max-queued-request-bytes", DefaultMaxQueuedRequestBytes, "bytes of requests being read and handled across connections; beyond, connections wait before reading (0: no limit)")
	fs.DurationVar(&c.RequestReadTimeout, "kafka.request-read-timeout", DefaultRequestReadTimeout, "longest the rest of a request may take to arrive once its length is read (0: the idle timeout)")
	fs.IntVar(&c.MaxMetadataLookups, "kafka.max-metadata-lookups", DefaultMaxMetadataLookups, "most topics of one Metadata request looked up in the metastore; the rest are answered LEADER_NOT_AVAILABLE (0: no limit)")
	fs.IntVar(&c.MaxAutoCreateTopics, "kafka.max-auto-create-topics", DefaultMaxAutoCreateTopics, "most topics one Metadata request auto-creates; the rest are answered LEADER_NOT_AVAILABLE (0: no limit)")
	c.Auth.RegisterFlags(fs)
	fs.IntVar(&c.MaxTopicsPerRequest, "kafka.max-topics-per-request", DefaultMaxTopicsPerRequest, "most topics one CreateTopics, DeleteTopics or CreatePartitions request changes; the rest are answered THROTTLING_QUOTA_EXCEEDED (0: no limit)")
	fs.IntVar(&c.FetchSessionCacheSlots, "kafka.fetch-session-cache-slots", DefaultFetchSessionSlots, "incremental fetch sessions (KIP-227) the node keeps (0: none, every fetch is full)")
	fs.DurationVar(&c.FetchSessionEviction, "kafka.fetch-session-eviction", DefaultFetchSessionEviction, "how long a fetch session must be unused before a new one may take its slot")
	c.Quotas.registerFlags(fs)
	c.Share.registerFlags(fs)
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return fmt.Errorf("kafka: listen address %q: %w", c.ListenAddress, err)
	}
	if c.AdvertisedAddress != "" {
		if _, _, err := splitAdvertised(c.AdvertisedAddress); err != nil {
			return fmt.Errorf("kafka: advertised address %q: %w", c.AdvertisedAddress, err)
		}
	}
	ls, err := c.ListenerSet()
	if err != nil {
		return err
	}
	needTLS, needSASL := false, false
	for _, l := range ls {
		if l.Advertised != "" {
			if _, _, err := splitAdvertised(l.Advertised); err != nil {
				return fmt.Errorf("kafka: advertised address %q of listener %s: %w", l.Advertised, l.Name, err)
			}
		}
		needTLS = needTLS || l.TLS()
		needSASL = needSASL || l.SASL()
	}
	if needTLS {
		if err := c.TLS.validate(); err != nil {
			return err
		}
	}
	if needSASL {
		if err := c.SASL.Validate(); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		if len(c.SASL.Mechanisms) == 0 {
			return errors.New("kafka: SASL listeners need at least one mechanism in -kafka.sasl.mechanisms")
		}
	}
	if c.SASLMaxReauth < 0 {
		return fmt.Errorf("kafka: sasl max reauth %s is negative", c.SASLMaxReauth)
	}
	if c.NodeID < 0 {
		return fmt.Errorf("kafka: node id %d is negative", c.NodeID)
	}
	if c.ClusterID == "" {
		return errors.New("kafka: cluster id is empty")
	}
	if c.MaxRequestBytes < 1<<10 || c.MaxRequestBytes > math.MaxInt32 {
		return fmt.Errorf("kafka: max request bytes %d out of range [1024, %d]", c.MaxRequestBytes, math.MaxInt32)
	}
	if c.DefaultPartitions < 1 {
		return fmt.Errorf("kafka: default partitions %d is below 1", c.DefaultPartitions)
	}
	if c.MaxPartitionsPerTopic < c.DefaultPartitions {
		return fmt.Errorf("kafka: max partitions per topic %d is below the default partitions %d", c.MaxPartitionsPerTopic, c.DefaultPartitions)
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("kafka: idle timeout %s is negative", c.IdleTimeout)
	}
	if c.MaxInFlightRequests < 1 {
		return fmt.Errorf("kafka: max in-flight requests %d is below 1", c.MaxInFlightRequests)
	}
	if c.TopicCacheTTL < 0 {
		return fmt.Errorf("kafka: topic cache ttl %s is negative", c.TopicCacheTTL)
	}
	if c.FetchMaxWait < 0 {
		return fmt.Errorf("kafka: fetch max wait %s is negative", c.FetchMaxWait)
	}
	if c.FetchSessionEviction < 0 {
		return fmt.Errorf("kafka: fetch session eviction %s is negative", c.FetchSessionEviction)
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"max connections", c.MaxConnections},
		{"max connections per ip", c.MaxConnectionsPerIP},
		{"max metadata lookups", c.MaxMetadataLookups},
		{"max auto-create topics", c.MaxAutoCreateTopics},
		{"max topics per request", c.MaxTopicsPerRequest},
		{"fetch session cache slots", c.FetchSessionCacheSlots},
	} {
		if l.v < 0 {
			return fmt.Errorf("kafka: %s %d is negative", l.name, l.v)
		}
	}
	if c.MaxConnections > 0 && c.MaxConnectionsPerIP > c.MaxConnections {
		return fmt.Errorf("kafka: max connections per ip %d is above max connections %d", c.MaxConnectionsPerIP, c.MaxConnections)
	}
	if err := c.validateConnRates(); err != nil {
		return err
	}
	if need := requestCharge(produceKey, c.MaxRequestBytes); c.MaxQueuedRequestBytes != 0 && c.MaxQueuedRequestBytes < need {
		return fmt.Errorf("kafka: max queued request bytes %d cannot hold a Produce request of max request bytes %d, which is charged %d",
			c.MaxQueuedRequestBytes, c.MaxRequestBytes, need)
	}
	if c.MaxQueuedRequestBytes < 0 {
		return fmt.Errorf("kafka: max queued request bytes %d is negative", c.MaxQueuedRequestBytes)
	}
	if c.RequestReadTimeout < 0 {
		return fmt.Errorf("kafka: request read timeout %s is negative", c.RequestReadTimeout)
	}
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	return c.Quotas.validate()
}

// ListenerSet returns the listeners to serve: those of Listeners, or, when
// it is empty, one PLAINTEXT listener on ListenAddress advertising
// AdvertisedAddress.
func (c *Config) ListenerSet() ([]Listener, error) {
	if c.Listeners == "" {
		if c.AdvertisedListeners != "" {
			return nil, errors.New("kafka: -kafka.advertised-listeners needs -kafka.listeners")
		}
		return []Listener{{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Address: c.ListenAddress, Advertised: c.AdvertisedAddress}}, nil
	}
	ls, err := ParseListeners(c.Listeners, c.AdvertisedListeners, c.ListenerSecurityProtocolMap)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if len(ls) == 0 {
		return nil, errors.New("kafka: -kafka.listeners names no listener")
	}
	return ls, nil
}

// splitAdvertised splits an advertised host:port; the host must be one a
// client can dial.
func splitAdvertised(addr string) (string, int32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", 0, errors.New("unspecified host")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("invalid port %q", portStr)
	}
	return host, int32(port), nil
}

// int32Value is a flag.Value for an int32 field.
type int32Value struct{ p *int32 }

func newInt32Value(p *int32, def int32) int32Value {
	*p = def
	return int32Value{p}
}

func (v int32Value) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*v.p), 10)
}

func (v int32Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return err
	}
	*v.p = int32(n)
	return nil
}
