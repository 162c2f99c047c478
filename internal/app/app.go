// Package app wires Strata's roles into one process: it opens the metastore
// and the object store, builds the reader, the ingest path and the Kafka
// front door, serves the admin HTTP endpoints, and shuts everything down in
// an order that loses nothing acknowledged.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stratalog/strata/compactor"
	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/console"
	"github.com/stratalog/strata/internal/cost"
	"github.com/stratalog/strata/internal/groups"
	"github.com/stratalog/strata/internal/kafka"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/internal/txn"
	"github.com/stratalog/strata/internal/version"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
	"github.com/stratalog/strata/metastore/sqlite"
	"github.com/stratalog/strata/reader"
)

// Metastore is everything the roles need of the metastore; both backends
// implement it.
type Metastore interface {
	metastore.Store
	metastore.GroupStore
	metastore.ClusterStore
	metastore.CompactionStore
}

// App is one running strata process.
type App struct {
	cfg    Config
	logger *slog.Logger
	reg    *prometheus.Registry
	roles  cluster.Role

	store     Metastore
	objects   objstore.Store
	reader    *reader.Reader
	ingest    *ingest.Ingester
	member    *cluster.Member
	groups    *groups.Coordinator
	txn       *txn.Coordinator
	compactor *compactor.Compactor
	kafka     *kafka.Server
	acls      *acl.Cache

	kafkaLn net.Listener // the first Kafka listener's
	// kafkaLns are the Kafka listeners, in the order of -kafka.listeners,
	// with their advertised addresses filled in.
	kafkaLns  []net.Listener
	listeners []kafka.Listener
	console   *console.Console // nil when disabled
	cost      *cost.Meter

	adminLn net.Listener
	admin   *http.Server
	ready   atomic.Bool
	serving chan struct{} // closed once Run serves
	// stopping is set once the node has begun to stop: services that end
	// then have not failed.
	stopping atomic.Bool
}

// NewLogger builds the process logger from the config.
func NewLogger(cfg Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// OpenMetastore opens the PostgreSQL metastore when a URL is configured,
// else the SQLite file. Either applies pending migrations first.
func OpenMetastore(ctx context.Context, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (Metastore, error) {
	if cfg.Postgres.URL != "" {
		s, err := postgres.New(ctx, cfg.Postgres, logger, reg)
		if err != nil {
			return nil, fmt.Errorf("open postgres metastore: %w", err)
		}
		return s, nil
	}
	s, err := sqlite.New(ctx, cfg.SQLite, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite metastore %s: %w", cfg.SQLite.Path, err)
	}
	return s, nil
}

// New opens the stores, binds the listeners and builds every role. Nothing
// is served until Run.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = NewLogger(cfg)
	}
	roles, err := cluster.ParseRoles(cfg.Roles)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), roles: roles, serving: make(chan struct{})}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := version.Get()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strata_build_info",
		Help: "Always 1; its labels name the running build: release, commit and Go version.",
	}, []string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(build.Version, build.Commit, build.GoVersion).Set(1)
	a.reg.MustRegister(buildInfo)

	if a.store, err = OpenMetastore(ctx, cfg, logger, a.reg); err != nil {
		return nil, err
	}
	if err = createBootstrapUser(ctx, cfg.BootstrapUser, a.store, logger); err != nil {
		return nil, err
	}
	objects, err := objstore.Open(ctx, cfg.Objects)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", cfg.Objects.URL, err)
	}
	// The cost meter shares the produce path's PUTs, and the GETs of
	// the objects it committed, among the topics of each object.
	a.cost = cost.New(a.store, a.reg)
	prices, _ := cost.ParsePrices(cfg.Console.Prices) // checked by Validate
	if err := a.cost.SetBudgets(prices, cfg.Cost); err != nil {
		return nil, err
	}
	a.objects = a.cost.Objects(objstore.NewMetrics(objects, a.reg, backendName(cfg.Objects.URL)))

	// Every node has a reader: a node without the reader role sends
	// fetches to reader nodes (KIP-392) but still serves the clients that
	// cannot follow, and ListOffsets and OffsetForLeaderEpoch. Only ingest
	// nodes build the produce path; the front door of the others answers
	// Produce with NOT_LEADER_OR_FOLLOWER (see docs/cluster.md).
	a.reader = reader.New(cfg.Reader, a.store, a.objects, logger, a.reg)
	if roles.Has(cluster.RoleIngest) {
		icfg := cfg.Ingest
		// A PUT to a local directory costs nothing: no PUT budget by
		// default there (strata dev), so a produce is acknowledged after
		// one local write and one metastore commit.
		icfg.LocalObjects = backendName(cfg.Objects.URL) == "local"
		// The node's monthly PUT budget in dollars caps its PUT rate.
		if icfg.PutRateCap, err = prices.PutRate(cfg.Cost.MonthlyPutBudget); err != nil {
			return nil, err
		}
		if a.ingest, err = ingest.New(icfg, a.cost.Committer(a.store), a.objects, a.reader, logger, a.reg); err != nil {
			return nil, err
		}
	}

	// Every node registers the address clients must use to reach it on
	// each listener; the first listener's is the node's host and port.
	if a.listeners, err = cfg.Kafka.ListenerSet(); err != nil {
		return nil, err
	}
	var endpoints []cluster.Endpoint
	for i, l := range a.listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			return nil, fmt.Errorf("kafka listener %s: %w", l.Name, err)
		}
		a.kafkaLns = append(a.kafkaLns, ln)
		if l.Advertised == "" {
			a.listeners[i].Advertised = advertise(ln.Addr())
		}
		ep, err := cluster.NodeFromAddr(cfg.Kafka.NodeID, a.listeners[i].Advertised, cfg.Kafka.Rack, roles)
		if err != nil {
			return nil, fmt.Errorf("kafka listener %s: %w", l.Name, err)
		}
		endpoints = append(endpoints, cluster.Endpoint{Listener: l.Name, Host: ep.Host, Port: ep.Port})
	}
	a.kafkaLn = a.kafkaLns[0]
	cfg.Kafka.AdvertisedAddress = a.listeners[0].Advertised
	self, err := cluster.NodeFromAddr(cfg.Kafka.NodeID, cfg.Kafka.AdvertisedAddress, cfg.Kafka.Rack, roles)
	if err != nil {
		return nil, err
	}
	self.Listeners = endpoints
	if a.member, err = cluster.New(cfg.Cluster, self, a.store, logger, a.reg); err != nil {
		return nil, err
	}
	// Group lag is read by the controller alone, so that each group has
	// one series in the cluster whichever nodes are scraped.
	a.reg.MustRegister(groups.NewLagCollector(a.store, a.member.IsController, logger))
	// Every node keeps a copy of the ACLs, which it polls for changes
	// made through the other nodes (acl.Cache).
	a.acls = acl.NewCache(a.store, logger.With("component", "audit"))
	deps := kafka.Deps{Meta: a.store, Ingest: a.ingest, Reader: a.reader, Cluster: a.member.View(), Scram: a.store, ACLs: a.acls, Share: a.store}
	if slices.ContainsFunc(a.listeners, kafka.Listener.SASL) {
		// PLAIN and SCRAM check passwords against the SCRAM credentials
		// of the metastore.
		if deps.SASL, err = sasl.NewServer(cfg.Kafka.SASL, a.store, logger); err != nil {
			return nil, fmt.Errorf("kafka sasl: %w", err)
		}
	}
	if roles.Has(cluster.RoleCoordinator) {
		gcfg := cfg.Groups
		// The view says which groups this node should coordinate; the
		// group leases, taken by this process's instance and as long as
		// the node's own lease, fence the writes of a node that lost them.
		gcfg.Owner = a.member.View().IsCoordinator
		gcfg.NodeID, gcfg.Instance, gcfg.Lease = self.ID, a.member.Instance(), cfg.Cluster.Lease
		if a.groups, err = groups.New(gcfg, a.store, a.store, logger, a.reg); err != nil {
			return nil, err
		}
		deps.Groups = a.groups
		// Transactional ids are coordinated as groups are, under leases
		// of their own names; their markers are objects of the produce
		// path's key prefix.
		tcfg := cfg.Txn
		tcfg.Owner = a.member.View().IsCoordinator
		tcfg.NodeID, tcfg.Instance, tcfg.Lease = self.ID, a.member.Instance(), cfg.Cluster.Lease
		tcfg.KeyPrefix = cfg.Ingest.KeyPrefix
		if a.txn, err = txn.New(tcfg, a.store, a.objects, a.reader, logger, a.reg); err != nil {
			return nil, err
		}
		deps.Txn = a.txn
	}
	// The compactor's retention flags are the broker-level defaults of
	// topic configs: every node's front door reports them, so that what
	// DescribeConfigs shows is what the compactor enforces.
	if cfg.Kafka.TopicDefaults, err = cfg.Compactor.TopicDefaults(); err != nil {
		return nil, err
	}
	a.kafka = kafka.NewServer(cfg.Kafka, deps, logger, a.reg)
	if roles.Has(cluster.RoleCompactor) {
		// The compactor's swaps commit its level-1 objects: the meter
		// shares their PUTs and metastore transactions among topics.
		if a.compactor, err = compactor.New(cfg.Compactor, meteredSwaps{a.store, a.cost}, a.objects, logger, a.reg); err != nil {
			return nil, err
		}
	}

	if cfg.AdminAddress != "" {
		if a.adminLn, err = net.Listen("tcp", cfg.AdminAddress); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		if cfg.Console.Enabled {
			// The console reads the cluster through the node's own
			// Kafka listener, as any client would.
			seed, copts, kopts, cerr := a.consoleKafka(cfg.Console.Client, logger)
			if cerr != nil {
				a.adminLn.Close()
				return nil, cerr
			}
			if a.console, err = console.New(cfg.Console, console.Deps{
				KafkaAddr: seed, Store: a.store, ClientOptions: copts, KgoOptions: kopts,
				Metrics: a.reg, Registerer: a.reg, Lease: cfg.Cluster.Lease, Logger: logger, Cost: a.cost,
			}); err != nil {
				a.adminLn.Close()
				return nil, err
			}
		}
		token := ""
		if cfg.AdminTokenFile != "" {
			if token, err = readSecretFile(cfg.AdminTokenFile); err != nil {
				a.adminLn.Close()
				return nil, fmt.Errorf("admin.token-file: %w", err)
			}
		}
		a.admin = &http.Server{Handler: a.adminHandler(token), ReadHeaderTimeout: 10 * time.Second}
		if cfg.AdminTLSCertFile != "" {
			// Re-read when the files change, as the Kafka listeners' is.
			tcfg, err := kafka.ServerTLSConfig(cfg.AdminTLSCertFile, cfg.AdminTLSKeyFile)
			if err != nil {
				a.adminLn.Close()
				return nil, fmt.Errorf("admin.tls: %w", err)
			}
			a.adminLn = tls.NewListener(a.adminLn, tcfg)
		}
	}
	return a, nil
}

// advertise turns a listener address into one clients can dial: a
// wildcard host becomes the machine's host name.
func advertise(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			host = name
		}
	}
	return net.JoinHostPort(host, port)
}

func backendName(url string) string {
	if strings.HasPrefix(url, "s3://") {
		return "s3"
	}
	return "local"
}

// KafkaAddr is the address the first Kafka listener is bound to.
func (a *App) KafkaAddr() net.Addr { return a.kafkaLn.Addr() }

// KafkaListenerAddr is the address the named Kafka listener is bound to;
// nil when there is no such listener.
func (a *App) KafkaListenerAddr(name string) net.Addr {
	for i, l := range a.listeners {
		if l.Name == name {
			return a.kafkaLns[i].Addr()
		}
	}
	return nil
}

// AdminAddr is the admin listener's address, nil when disabled.
func (a *App) AdminAddr() net.Addr {
	if a.adminLn == nil {
		return nil
	}
	return a.adminLn.Addr()
}

// MetricNames lists every metric the node's registry describes, those
// with no series yet included (an error counter before the first error),
// so that dashboards and alert rules can be checked against them.
func (a *App) MetricNames() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		a.reg.Describe(ch)
		close(ch)
	}()
	var names []string
	for d := range ch {
		// Desc has no accessor for its name; its String form quotes it.
		if m := descName.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// ConsoleEnabled says whether the admin listener serves the console at /ui/.
func (a *App) ConsoleEnabled() bool { return a.console != nil }

// Store is the process's metastore.
func (a *App) Store() metastore.Store { return a.store }

// Serving is closed once Run has joined the cluster and its listeners
// accept requests: what a banner saying "running" must wait for.
func (a *App) Serving() <-chan struct{} { return a.serving }

// Run serves until ctx ends, then shuts down: it stops accepting
// connections, lets in-flight requests finish (a produce waits for its
// commit), flushes and commits everything accepted, and closes the stores.
func (a *App) Run(ctx context.Context) error {
	// Join the cluster before serving: Metadata needs the live brokers and
	// the partition leaders.
	if err := a.member.Start(ctx); err != nil {
		a.closeAll()
		return fmt.Errorf("join the cluster: %w", err)
	}
	// Every part of the node runs as a service: it serves until the node
	// stops, and a service that returns before that has failed, which
	// stops the node (Shutdown then stops the others in their order).
	// Read the ACLs before serving: a request is never decided without
	// them.
	if err := a.acls.Load(ctx); err != nil {
		a.closeAll()
		return fmt.Errorf("read the ACLs: %w", err)
	}
	services := []service{{"cluster membership", func(ctx context.Context) error {
		select {
		case <-a.member.Done():
			return a.member.Err()
		case <-ctx.Done():
			return nil
		}
	}, false}}
	services = append(services, service{"acl refresh", func(ctx context.Context) error {
		a.acls.Run(ctx, a.cfg.Kafka.Auth.RefreshInterval, a.logger.With("component", "acl"))
		return nil
	}, false})
	if a.compactor != nil {
		// One compactor is active cluster-wide (a lease); the others wait.
		services = append(services, service{"compactor", a.compactor.Run, false})
	}
	if l, ok := a.store.(commitListener); ok {
		// Commits of other nodes wake this node's long polls.
		services = append(services, service{"commit notifications", func(ctx context.Context) error {
			a.listenCommits(ctx, l)
			return nil
		}, false})
	}
	for i, l := range a.listeners {
		ln := a.kafkaLns[i]
		services = append(services, service{"kafka listener " + l.Name, func(context.Context) error {
			return ignore(a.kafka.ServeListener(ln, l), kafka.ErrServerClosed)
		}, true})
	}
	if a.console != nil {
		services = append(services, service{"console metrics history", a.console.Run, false})
	}
	if a.admin != nil {
		services = append(services, service{"admin listener", func(context.Context) error {
			return ignore(a.admin.Serve(a.adminLn), http.ErrServerClosed)
		}, true})
	}
	// The services that use the store (the compactor, the notifications)
	// end with svcCtx, before Shutdown closes the store; the listeners end
	// with Shutdown.
	svcCtx, stopServices := context.WithCancel(context.Background())
	defer stopServices()
	errc := make(chan error, len(services))
	var running, listening sync.WaitGroup
	for _, svc := range services {
		wg := &running
		if svc.listener {
			wg = &listening
		}
		wg.Go(func() {
			err := svc.run(svcCtx)
			if svcCtx.Err() == nil && !a.stopping.Load() {
				if err == nil {
					err = errors.New("stopped")
				}
				errc <- fmt.Errorf("%s: %w", svc.name, err)
			}
		})
	}
	a.ready.Store(true)
	close(a.serving)
	a.logger.Info("strata is serving", "kafka", a.KafkaAddr().String(), "admin", addrString(a.AdminAddr()),
		"node", a.member.Self().ID, "roles", a.roles.String())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		a.logger.Error("a service of the node failed", "err", runErr)
	}
	a.ready.Store(false)
	a.stopping.Store(true)
	a.logger.Info("shutting down")
	stopServices()
	running.Wait()
	err := a.Shutdown(30 * time.Second)
	listening.Wait()
	if err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// service is a part of a running node (see Run). A listener's run ends
// with Shutdown; the others' when their ctx ends, before Shutdown closes
// the stores they use.
type service struct {
	name     string
	run      func(ctx context.Context) error
	listener bool
}

// ignore returns err unless it is the error of an orderly stop.
func ignore(err, stopped error) error {
	if errors.Is(err, stopped) {
		return nil
	}
	return err
}

// Shutdown stops serving within timeout without losing acknowledged data.
func (a *App) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	// Leave the cluster first, so that leaders and groups move to the
	// other nodes at once instead of after a lease.
	if err := a.member.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("leave the cluster: %w", err))
	}
	// Then hand the groups over: their writes in progress finish, waiting
	// requests are answered NOT_COORDINATOR and the group leases are
	// released, so that the groups' next coordinators take them without
	// waiting for the leases to run out, and their members carry on there.
	if a.txn != nil {
		if err := a.txn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.groups != nil {
		if err := a.groups.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// In-flight produces finish as their segments commit: the ingest path
	// keeps flushing while the front door drains.
	if err := a.kafka.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka shutdown: %w", err))
	}
	if a.ingest != nil {
		if err := a.ingest.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if a.admin != nil {
		if err := a.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("admin shutdown: %w", err))
		}
	}
	if a.console != nil {
		a.console.Close()
	}
	a.closeStores()
	return errors.Join(errs...)
}

// closeAll releases what New opened when New fails part way.
func (a *App) closeAll() {
	if a.ingest != nil {
		_ = a.ingest.Close(context.Background())
	}
	if a.txn != nil {
		_ = a.txn.Close()
	}
	if a.groups != nil {
		_ = a.groups.Close()
	}
	for _, ln := range a.kafkaLns {
		ln.Close()
	}
	if a.adminLn != nil {
		a.adminLn.Close()
	}
	if a.console != nil {
		a.console.Close()
	}
	a.closeStores()
}

func (a *App) closeStores() {
	if a.store != nil {
		a.store.Close()
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// commitListener is the PostgreSQL metastore's notification of commits made
// by any node.
type commitListener interface {
	ListenCommits(ctx context.Context, fn func([]postgres.HighWatermark)) error
}

// listenCommits feeds other nodes' commits to the reader's long polls until
// ctx ends, reconnecting after errors. A missed notification only costs
// latency: long polls also re-read high watermarks periodically.
func (a *App) listenCommits(ctx context.Context, l commitListener) {
	for ctx.Err() == nil {
		err := l.ListenCommits(ctx, func(hws []postgres.HighWatermark) {
			for _, hw := range hws {
				a.reader.Notify(hw.TopicID, hw.Partition, hw.NextOffset)
			}
		})
		if ctx.Err() != nil {
			return
		}
		a.logger.Warn("commit notifications interrupted", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// meteredSwaps is the compactor's metastore with its swaps attributed by
// the cost meter.
type meteredSwaps struct {
	compactor.Metastore
	cost *cost.Meter
}

func (m meteredSwaps) SwapObject(ctx context.Context, swaps []metastore.ChunkSwap) ([]error, error) {
	res, err := m.Metastore.SwapObject(ctx, swaps)
	if err == nil {
		m.cost.Swapped(swaps, res)
	}
	return res, err
}
