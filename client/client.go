package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Defaults of a new Client. See the package documentation for why.
const (
	DefaultBrokers            = "127.0.0.1:9092"
	DefaultClientID           = "strata-go"
	DefaultLinger             = 50 * time.Millisecond
	DefaultMaxBufferedRecords = 100_000
	DefaultMaxBufferedBytes   = 64 << 20
	DefaultDialTimeout        = 10 * time.Second
)

// BrokersEnv is the environment variable read for the seed brokers when
// WithBrokers is not given: a comma-separated list of host:port.
const BrokersEnv = "STRATA_BROKERS"

// Compression is a codec for produced record batches.
type Compression int8

// Codecs. The zero value is NoCompression, the default.
const (
	NoCompression Compression = iota
	Gzip
	Snappy
	LZ4
	Zstd
)

func (c Compression) String() string {
	switch c {
	case NoCompression:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", int8(c))
}

func (c Compression) codec() kgo.CompressionCodec {
	switch c {
	case Gzip:
		return kgo.GzipCompression()
	case Snappy:
		return kgo.SnappyCompression()
	case LZ4:
		return kgo.Lz4Compression()
	case Zstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// config is what the options set.
type config struct {
	brokers            []string
	clientID           string
	zone               string
	tls                *tls.Config
	sasl               []sasl.Mechanism
	logger             *slog.Logger
	linger             time.Duration
	maxBufferedRecords int
	maxBufferedBytes   int
	compression        Compression
	dialTimeout        time.Duration
	extra              []kgo.Opt
}

func defaultConfig(getenv func(string) string) config {
	brokers := []string{DefaultBrokers}
	if env := splitList(getenv(BrokersEnv)); len(env) > 0 {
		brokers = env
	}
	return config{
		brokers:            brokers,
		clientID:           DefaultClientID,
		linger:             DefaultLinger,
		maxBufferedRecords: DefaultMaxBufferedRecords,
		maxBufferedBytes:   DefaultMaxBufferedBytes,
		dialTimeout:        DefaultDialTimeout,
	}
}

func (c *config) validate() error {
	if len(c.brokers) == 0 {
		return errors.New("no brokers: give WithBrokers at least one host:port")
	}
	for _, b := range c.brokers {
		if b == "" || strings.ContainsAny(b, " ,") {
			return fmt.Errorf("broker address %q: want host:port", b)
		}
	}
	if strings.ContainsAny(c.zone, ",= ") {
		return fmt.Errorf("zone %q: must not contain ',', '=' or spaces", c.zone)
	}
	if c.linger < 0 || c.maxBufferedRecords < 1 || c.maxBufferedBytes < 1 || c.dialTimeout <= 0 {
		return errors.New("linger, buffer limits and dial timeout must be positive")
	}
	return nil
}

// effectiveClientID is the client.id sent to brokers: the client id, and
// the zone as a "zone=NAME" element when there is one.
func (c *config) effectiveClientID() string {
	if c.zone == "" {
		return c.clientID
	}
	return c.clientID + ",zone=" + c.zone
}

// commonOpts are the franz-go options of every client this package makes.
func (c *config) commonOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.brokers...),
		kgo.ClientID(c.effectiveClientID()),
		kgo.DialTimeout(c.dialTimeout),
	}
	if c.zone != "" {
		opts = append(opts, kgo.Rack(c.zone))
	}
	if c.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(c.tls))
	}
	if len(c.sasl) > 0 {
		opts = append(opts, kgo.SASL(c.sasl...))
	}
	if c.logger != nil {
		opts = append(opts, kgo.WithLogger(newKgoLogger(c.logger)))
	}
	return opts
}

// producerOpts are the options of the Client's own franz-go client, which
// produces and runs admin requests.
func (c *config) producerOpts() []kgo.Opt {
	opts := append(c.commonOpts(),
		kgo.ProducerLinger(c.linger),
		kgo.MaxBufferedRecords(c.maxBufferedRecords),
		kgo.MaxBufferedBytes(c.maxBufferedBytes),
		kgo.ProducerBatchCompression(c.compression.codec()),
		kgo.RecordPartitioner(newPartitioner()),
		kgo.AllowAutoTopicCreation(),
	)
	if c.zone != "" {
		opts = append(opts, kgo.RackAwarePartitioning())
	}
	return append(opts, c.extra...)
}

// Option configures a Client.
type Option func(*config)

// WithBrokers sets the seed brokers (host:port). The default is the
// comma-separated list in $STRATA_BROKERS, else 127.0.0.1:9092 (strata dev).
func WithBrokers(addrs ...string) Option {
	return func(c *config) { c.brokers = addrs }
}

// WithClientID sets the client.id brokers see in their logs and metrics
// (default "strata-go").
func WithClientID(id string) Option {
	return func(c *config) { c.clientID = id }
}

// WithZone says which zone (availability zone, rack) the client runs in. The
// zone goes into the client.id as "zone=NAME" and into client.rack, so the
// brokers can hand out leaders in the same zone; unkeyed records prefer
// partitions led from that zone, and group consumers prefer partitions led
// from it when the assignment allows. This keeps traffic off cross-zone
// links, which clouds bill for.
func WithZone(zone string) Option {
	return func(c *config) { c.zone = zone }
}

// WithTLS connects to the brokers over TLS.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls = cfg }
}

// WithSASL authenticates with the given mechanisms, tried in order (for
// instance plain.Auth{...}.AsMechanism() from franz-go's pkg/sasl/plain).
func WithSASL(mechanisms ...sasl.Mechanism) Option {
	return func(c *config) { c.sasl = mechanisms }
}

// WithLogger logs the client's connection and group events to l. Without
// it, the client logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithLinger sets how long a partition's batch waits for more records
// before it is sent (default 50ms, a fifth of a broker's default budget
// interval: see the package documentation).
func WithLinger(d time.Duration) Option {
	return func(c *config) { c.linger = d }
}

// WithMaxBuffered bounds the records and bytes waiting to be acknowledged;
// at either limit Produce and ProduceAsync block until acknowledgements free
// room (default 100,000 records and 64 MiB).
func WithMaxBuffered(records, bytes int) Option {
	return func(c *config) { c.maxBufferedRecords, c.maxBufferedBytes = records, bytes }
}

// WithCompression compresses produced batches (default NoCompression).
func WithCompression(codec Compression) Option {
	return func(c *config) { c.compression = codec }
}

// WithDialTimeout bounds each connection attempt (default 10s).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) { c.dialTimeout = d }
}

// WithKgoOptions passes franz-go options through, after this package's own,
// for settings it does not wrap. Consumers do not get them; use
// ConsumerKgoOptions there.
func WithKgoOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// Client is a connection to a Strata (or any Kafka) cluster: it produces,
// runs admin requests and makes consumers. It is safe for concurrent use.
type Client struct {
	cfg config
	kc  *kgo.Client  // produces
	akc *kgo.Client  // admin requests
	adm *kadm.Client // on akc

	closeOnce sync.Once
}

// New connects to the cluster and checks that a broker answers before
// returning; when none does the error matches ErrBrokerUnreachable and
// names the addresses tried.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	cfg := defaultConfig(os.Getenv)
	for _, o := range opts {
		o(&cfg)
	}
	c := &Client{cfg: cfg}
	if err := cfg.validate(); err != nil {
		return nil, &Error{Op: "new client", Err: err}
	}
	kc, err := kgo.NewClient(cfg.producerOpts()...)
	if err != nil {
		return nil, &Error{Op: "new client", Err: err}
	}
	if err := kc.Ping(ctx); err != nil {
		kc.Close()
		wrapped := c.wrap("connect", "", err)
		var e *Error
		if errors.As(wrapped, &e) && !errors.Is(e, ErrBrokerUnreachable) && e.Hint == "" {
			// No broker answered at all: a timeout or a refused
			// connection look the same to the user.
			e.Err = &BrokerUnreachableError{Addrs: cfg.brokers, Err: err}
			e.Retriable = true
		}
		return nil, wrapped
	}
	// Admin requests go through a client of their own, which never asks
	// for topics to be auto-created: describing a missing topic must not
	// create it. It connects on first use.
	akc, err := kgo.NewClient(append(cfg.commonOpts(), cfg.extra...)...)
	if err != nil {
		kc.Close()
		return nil, &Error{Op: "new client", Err: err}
	}
	c.kc = kc
	c.akc = akc
	c.adm = kadm.NewClient(akc)
	return c, nil
}

// Brokers returns the seed brokers the client was configured with.
func (c *Client) Brokers() []string { return append([]string(nil), c.cfg.brokers...) }

// Kgo returns the underlying franz-go client, for what this package does
// not wrap. Do not close it; close the Client.
func (c *Client) Kgo() *kgo.Client { return c.kc }

// Flush waits until every record produced so far is acknowledged or failed.
func (c *Client) Flush(ctx context.Context) error {
	return c.wrap("flush", "", c.kc.Flush(ctx))
}

// Close waits up to 10 seconds for buffered records to be acknowledged,
// then closes the connections. Records still buffered then fail with
// ErrClosed. Close is idempotent.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.kc.Flush(ctx)
		c.kc.Close()
		c.akc.Close()
	})
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// kgoLogger logs franz-go's events to a slog.Logger.
type kgoLogger struct {
	l     *slog.Logger
	level kgo.LogLevel
}

func newKgoLogger(l *slog.Logger) kgoLogger {
	ctx := context.Background()
	level := kgo.LogLevelNone
	switch {
	case l.Enabled(ctx, slog.LevelDebug):
		level = kgo.LogLevelDebug
	case l.Enabled(ctx, slog.LevelInfo):
		level = kgo.LogLevelInfo
	case l.Enabled(ctx, slog.LevelWarn):
		level = kgo.LogLevelWarn
	case l.Enabled(ctx, slog.LevelError):
		level = kgo.LogLevelError
	}
	return kgoLogger{l: l.With("component", "kafka-client"), level: level}
}

func (k kgoLogger) Level() kgo.LogLevel { return k.level }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		sl = slog.LevelDebug
	}
	k.l.Log(context.Background(), sl, msg, keyvals...)
}
