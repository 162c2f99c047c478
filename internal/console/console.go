// Package console is Strata's web console: pages on the admin listener
// (/ui/) that show the cluster's nodes, topics, messages and consumer
// groups. It reads the cluster as any client does, through the SDK and
// kadm against the node's own Kafka listener, and asks the node's
// metastore only for what Kafka cannot tell (heartbeats, bytes stored,
// compaction). Charts come from a small in-memory history of the node's
// own metrics. It changes nothing unless started with read-only off, and
// then only through the Kafka APIs a client would use, so that the
// broker's validation applies.
package console

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/client"
	"github.com/stratalog/strata/internal/cost"
	"github.com/stratalog/strata/metastore"
)

// Config is the console's configuration.
type Config struct {
	// Enabled serves the console on the admin listener at /ui/.
	Enabled bool
	// ReadOnly refuses every change (topic configs, group offsets).
	ReadOnly bool
	// SampleInterval is how often the node's metrics are sampled for the
	// charts; the history keeps an hour of samples at most.
	SampleInterval time.Duration
	// MaxScan bounds the records the message browser reads from the
	// broker for one page, filtered or not.
	MaxScan int
	// Prices are the unit prices of the cost page: a preset or
	// put=,get=,storage= (cost.ParsePrices).
	Prices string
	// Client is how the console's Kafka client connects (client_config.go).
	Client ClientConfig
}

// RegisterFlags registers the console's flags with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "console.enabled", true, "serve the web console on the admin listener at /ui/")
	fs.BoolVar(&c.ReadOnly, "console.read-only", true, "refuse changes from the console (topic configs, group offsets); -console.read-only=false allows them")
	fs.DurationVar(&c.SampleInterval, "console.sample-interval", 10*time.Second, "how often the console samples the node's metrics for its charts (an hour of history at most)")
	fs.IntVar(&c.MaxScan, "console.max-scan", 10000, "most records the message browser reads from the broker for one page, filter or not")
	c.Client.registerFlags(fs)
	fs.StringVar(&c.Prices, "cost.prices", "s3-standard", "unit prices of the console's cost page: s3-standard, s3-express-one-zone, or put=,get=,storage= in dollars per 1000 PUTs, per 1000 GETs and per GB-month")
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	if c.SampleInterval <= 0 {
		return fmt.Errorf("console.sample-interval: %s, want > 0", c.SampleInterval)
	}
	if _, err := cost.ParsePrices(c.Prices); err != nil {
		return err
	}
	if c.MaxScan < ShowMax {
		return fmt.Errorf("console.max-scan: %d, want at least %d", c.MaxScan, ShowMax)
	}
	return c.Client.validate()
}

// ShowMax is the most records the message browser shows on one page.
const ShowMax = 100

// historyLen is an hour of samples at the default interval.
const historyLen = 360

// Metastore is what the console reads from the node's metastore.
type Metastore interface {
	ListTopics(ctx context.Context) ([]metastore.Topic, error)
	Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error)
	ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) ([]metastore.Chunk, error)
	ClusterState(ctx context.Context) (metastore.ClusterState, error)
	CompactionStats(ctx context.Context) (metastore.CompactionStats, error)
}

// Deps is what the console needs from its node.
type Deps struct {
	// KafkaAddr is the node's own Kafka listener (host:port).
	KafkaAddr func() string
	Store     Metastore
	// Metrics is the node's registry, sampled for the charts.
	Metrics prometheus.Gatherer
	// Registerer takes the console's own metrics; nil registers none.
	Registerer prometheus.Registerer
	// Lease is the node lease, to tell a node's last heartbeat.
	Lease  time.Duration
	Logger *slog.Logger
	// Cost is the node's attribution of object-store work to topics; nil
	// leaves the cost page empty.
	Cost *cost.Meter
	// ClientOptions are added to the SDK client's, KgoOptions to the
	// console's own franz-go client's (TLS, SASL).
	ClientOptions []client.Option
	KgoOptions    []kgo.Opt
}

// Console serves the pages.
type Console struct {
	cfg     Config
	prices  cost.Prices
	deps    Deps
	log     *slog.Logger
	pages   map[string]*template.Template
	handler http.Handler
	history *history

	mu     sync.Mutex
	client *client.Client
	kc     *kgo.Client // no topic auto-creation

	fetchedRecords prometheus.Counter
}

//go:embed templates/*.html
var templateFS embed.FS

// New builds the console; Run samples the metrics, Close releases the
// Kafka client.
func New(cfg Config, deps Deps) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, deps: deps, log: deps.Logger, history: newHistory(historyLen)}
	c.prices, _ = cost.ParsePrices(cfg.Prices) // checked by Validate
	c.fetchedRecords = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_console_fetched_records_total",
		Help: "Records the console's message browser read from the broker.",
	})
	if deps.Registerer != nil {
		if err := deps.Registerer.Register(c.fetchedRecords); err != nil {
			return nil, err
		}
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/{$}", c.overview)
	mux.HandleFunc("GET /ui/topics", c.topics)
	mux.HandleFunc("GET /ui/topics/{topic}", c.topic)
	mux.HandleFunc("POST /ui/topics/{topic}/configs", c.alterConfig)
	mux.HandleFunc("GET /ui/topics/{topic}/messages", c.messages)
	mux.HandleFunc("GET /ui/groups", c.groups)
	mux.HandleFunc("GET /ui/groups/{group}", c.group)
	mux.HandleFunc("POST /ui/groups/{group}/reset", c.resetOffsets)
	mux.HandleFunc("GET /ui/cost", c.costPage)
	mux.HandleFunc("GET /ui/style.css", serveStyle)
	// Every form posts to the console's own origin: a POST that a browser
	// says comes from another site is refused before any handler runs.
	c.handler = securityHeaders(http.NewCrossOriginProtection().Handler(mux))
	return c, nil
}

// ServeHTTP serves /ui/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Run samples the node's metrics until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	c.sample()
	t := time.NewTicker(c.cfg.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.sample()
		}
	}
}

// Close closes the console's Kafka client.
func (c *Console) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		c.client.Close()
		c.kc.Close()
		c.client, c.kc = nil, nil
	}
}

// kafka returns the SDK client of the node's own listener, connecting on
// first use: the listener serves only once the node runs.
func (c *Console) kafka(ctx context.Context) (*client.Client, error) {
	cl, _, err := c.connect(ctx)
	return cl, err
}

// franz returns the console's own franz-go client, for kadm and the
// message browser's fetches. It never asks for topics to be
// auto-created, as the SDK's admin requests do not: browsing a missing
// topic must not create it (the SDK's Kgo client is its producer's, which
// would).
func (c *Console) franz(ctx context.Context) (*kgo.Client, error) {
	_, kc, err := c.connect(ctx)
	return kc, err
}

func (c *Console) connect(ctx context.Context) (*client.Client, *kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, c.kc, nil
	}
	opts := append([]client.Option{client.WithBrokers(c.deps.KafkaAddr()), client.WithClientID("strata-console")}, c.deps.ClientOptions...)
	cl, err := client.New(ctx, opts...)
	if err != nil {
		return nil, nil, err
	}
	kc, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.deps.KafkaAddr()), kgo.ClientID("strata-console")}, c.deps.KgoOptions...)...)
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	c.client, c.kc = cl, kc
	return cl, kc, nil
}

// errReadOnly is the answer to a change while the console is read-only.
var errReadOnly = errors.New("the console is read-only: start strata with -console.read-only=false to allow changes")

// securityHeaders keeps the pages out of frames and scripts off them: the
// console serves no script at all.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
