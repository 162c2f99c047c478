package kafka

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// Client quotas, enforced as a Kafka broker enforces them (KIP-13, KIP-55,
// KIP-124, KIP-219):
//
//   - A request is charged to its client by the connection's user (the name
//     of request.principal()) and the request's client id. Each quota type
//     takes its bound from the first of Kafka's eight entities that sets
//     it: /users/U/clients/C, /users/U/clients/<default>, /users/U,
//     /users/<default>/clients/C, /users/<default>/clients/<default>,
//     /users/<default>, /clients/C, /clients/<default>. The rate is kept
//     per user and client id as far as the matching entity names them: a
//     quota of /users/U is shared by every client id of U, one of
//     /users/<default> is each user's own.
//   - producer_byte_rate counts Produce request bytes, consumer_byte_rate
//     the bytes of Fetch responses, request_percentage the time handlers
//     spend on the connection's read goroutine (100 is one core), which is
//     what Kafka's request-handler time is here: the waits of the deferred
//     parts (a produce waiting for its commit, a fetch for new records) are
//     not counted, as Kafka does not count purgatory.
//   - Rates are windowed as Kafka's: WindowNum samples of WindowSize, a
//     rate over at least WindowNum-1 windows. A client over its bound gets
//     the time it would take the rate to fall back to the bound (at most
//     WindowNum windows), as throttle_time_ms in the response, which is sent at
//     once; the connection then reads no further request for that time.
//     A throttled Fetch is answered without records (they are not counted),
//     as Kafka answers it, and the client fetches them again later.
//   - ApiVersions and the SASL APIs are never throttled.
//
// Every node enforces the quotas on what it serves: a quota is per node,
// as Kafka's is per broker. Nodes load every quota from the metastore and
// poll its version at most every RefreshInterval, when requests arrive.

// QuotaConfig configures client quota enforcement.
type QuotaConfig struct {
	// WindowNum and WindowSize are Kafka's quota.window.num and
	// quota.window.size.seconds: the samples a rate is measured over.
	WindowNum  int
	WindowSize time.Duration
	// RefreshInterval is how often a node checks the metastore's quota
	// version while requests arrive: a change made through another node
	// applies here within about this long.
	RefreshInterval time.Duration
}

// Defaults of QuotaConfig, Kafka's where it has them.
const (
	DefaultQuotaWindowNum       = 11
	DefaultQuotaWindowSize      = time.Second
	DefaultQuotaRefreshInterval = 500 * time.Millisecond
)

func (c *QuotaConfig) registerFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.WindowNum, "kafka.quota.window-num", DefaultQuotaWindowNum, "samples a client quota's rate is measured over, as Kafka's quota.window.num")
	fs.DurationVar(&c.WindowSize, "kafka.quota.window-size", DefaultQuotaWindowSize, "length of one client quota sample, as Kafka's quota.window.size.seconds")
	fs.DurationVar(&c.RefreshInterval, "kafka.quota.refresh-interval", DefaultQuotaRefreshInterval, "how often the node checks the metastore for client quota changes while requests arrive")
}

// validate reports the first invalid setting; a zero one means its
// default.
func (c *QuotaConfig) validate() error {
	if c.WindowNum == 1 || c.WindowNum < 0 {
		return fmt.Errorf("kafka: quota window num %d is below 2", c.WindowNum)
	}
	if c.WindowSize != 0 && c.WindowSize < time.Millisecond {
		return fmt.Errorf("kafka: quota window size %s is below 1ms", c.WindowSize)
	}
	if c.RefreshInterval < 0 {
		return fmt.Errorf("kafka: quota refresh interval %s is negative", c.RefreshInterval)
	}
	return nil
}

// withDefaults fills in the zero settings.
func (c QuotaConfig) withDefaults() QuotaConfig {
	if c.WindowNum == 0 {
		c.WindowNum = DefaultQuotaWindowNum
	}
	if c.WindowSize == 0 {
		c.WindowSize = DefaultQuotaWindowSize
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultQuotaRefreshInterval
	}
	return c
}

// quotaType is one of the enforced quotas.
type quotaType int

const (
	quotaProduce quotaType = iota
	quotaFetch
	quotaRequest
	numQuotaTypes
)

// quotaKeys and quotaTypeNames are by quotaType: the quota key and the
// value of the metrics' quota label.
var (
	quotaKeys      = [numQuotaTypes]string{metastore.QuotaProducerByteRate, metastore.QuotaConsumerByteRate, metastore.QuotaRequestPercentage}
	quotaTypeNames = [numQuotaTypes]string{"produce", "fetch", "request"}
)

// quotaBook is one version of every quota, as loaded from the metastore,
// and the clients resolved against it.
type quotaBook struct {
	version int64
	values  map[metastore.QuotaEntity]map[string]float64
	has     [numQuotaTypes]bool // some entity sets the type's key

	// clients caches each (user, client id) pair's bounds and rates, so
	// that a request costs one lookup rather than up to eight per quota.
	clients  sync.Map // [2]string -> *quotaClient
	nClients atomic.Int64
}

// maxCachedClients bounds a book's client cache; past it the book is
// replaced by a fresh copy at the next refresh.
const maxCachedClients = 100_000

// quotaClient is one user and client id's quotas: the bound of each type
// (0: none) and the rate it is measured by.
type quotaClient struct {
	bound  [numQuotaTypes]float64
	sensor [numQuotaTypes]*rateSensor
	none   bool // no quota applies
}

// fresh returns a copy of b with an empty client cache.
func (b *quotaBook) fresh() *quotaBook {
	return &quotaBook{version: b.version, values: b.values, has: b.has}
}

func newQuotaBook(qs []metastore.ClientQuota, version int64) *quotaBook {
	b := &quotaBook{version: version, values: make(map[metastore.QuotaEntity]map[string]float64, len(qs))}
	for _, q := range qs {
		b.values[q.Entity] = q.Values
		for t := range numQuotaTypes {
			if _, ok := q.Values[quotaKeys[t]]; ok {
				b.has[t] = true
			}
		}
	}
	return b
}

// sensorKey names one rate: a quota type and the user and client id as far
// as the entity that gave the bound names them.
type sensorKey struct {
	t               quotaType
	hasUser, hasCli bool
	user, client    string
}

var (
	partAbsent  = metastore.QuotaPart{}
	partDefault = metastore.QuotaPart{Kind: metastore.QuotaDefault}
)

// bound returns the quota of type t of user and client id by KIP-55's
// precedence, and the rate it is measured by.
func (b *quotaBook) bound(t quotaType, user, client string) (float64, sensorKey, bool) {
	if !b.has[t] {
		return 0, sensorKey{}, false
	}
	u := metastore.QuotaPart{Kind: metastore.QuotaNamed, Name: user}
	c := metastore.QuotaPart{Kind: metastore.QuotaNamed, Name: client}
	for _, e := range [...]metastore.QuotaEntity{
		{User: u, ClientID: c}, {User: u, ClientID: partDefault}, {User: u},
		{User: partDefault, ClientID: c}, {User: partDefault, ClientID: partDefault}, {User: partDefault},
		{ClientID: c}, {ClientID: partDefault},
	} {
		v, ok := b.values[e][quotaKeys[t]]
		if !ok {
			continue
		}
		k := sensorKey{t: t, hasUser: e.User != partAbsent, hasCli: e.ClientID != partAbsent}
		if k.hasUser {
			k.user = user
		}
		if k.hasCli {
			k.client = client
		}
		return v, k, true
	}
	return 0, sensorKey{}, false
}

// quotaUser is the user a principal's quotas are looked up by: the name of
// "User:NAME".
func quotaUser(principal string) string {
	if name, ok := strings.CutPrefix(principal, "User:"); ok {
		return name
	}
	return principal
}

// quotaExempt lists the APIs never throttled: a client must be able to
// negotiate versions and authenticate whatever its quota.
func quotaExempt(key int16) bool {
	switch key {
	case kmsg.ApiVersions.Int16(), kmsg.SASLHandshake.Int16(), kmsg.SASLAuthenticate.Int16():
		return true
	}
	return false
}

// quotas enforces the client quotas of one server.
type quotas struct {
	cfg   QuotaConfig
	store metastore.ClientQuotaStore // nil: no quotas are ever enforced
	ctx   context.Context            // ends with the server
	log   *slog.Logger

	book       atomic.Pointer[quotaBook]
	checked    atomic.Int64 // unix nanos when the last version check began
	refreshing atomic.Bool

	mu      sync.Mutex
	sensors map[sensorKey]*rateSensor

	throttleSecs *prometheus.CounterVec
	throttled    *prometheus.CounterVec
	version      prometheus.Gauge
	loadErrors   prometheus.Counter
	rateLog      rateLog
}

// newQuotas returns the quota enforcement of a server whose metastore is
// meta; without a quota store (a wrapper in tests), none is enforced.
func newQuotas(ctx context.Context, cfg QuotaConfig, meta MetaStore, log *slog.Logger, reg prometheus.Registerer) *quotas {
	q := &quotas{
		cfg:     cfg.withDefaults(),
		ctx:     ctx,
		log:     log,
		sensors: map[sensorKey]*rateSensor{},
		throttleSecs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_quota_throttle_seconds_total",
			Help: "Throttle time given to clients over a client quota, by the quota that set it (produce, fetch, request).",
		}, []string{"quota"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_quota_throttled_responses_total",
			Help: "Responses that carried a client quota's throttle time, by the quota that set it (produce, fetch, request).",
		}, []string{"quota"}),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_kafka_quota_version",
			Help: "Version of the client quotas this node enforces (the metastore's quota version when loaded).",
		}),
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_quota_load_errors_total",
			Help: "Failed checks or loads of the client quotas; the node goes on with the quotas it has.",
		}),
	}
	if qs, ok := meta.(metastore.ClientQuotaStore); ok && !isNil(qs) {
		q.store = qs
	}
	if reg != nil {
		reg.MustRegister(q.throttleSecs, q.throttled, q.version, q.loadErrors)
	}
	return q
}

// maybeRefresh starts a check of the quota version when the last one is
// RefreshInterval old and none is running.
func (q *quotas) maybeRefresh() {
	now := time.Now().UnixNano()
	if now-q.checked.Load() < int64(q.cfg.RefreshInterval) || !q.refreshing.CompareAndSwap(false, true) {
		return
	}
	q.checked.Store(now)
	go func() {
		defer q.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
		defer cancel()
		if err := q.refresh(ctx); err != nil && !errors.Is(err, context.Canceled) {
			q.loadErrors.Inc()
			if ok, n := q.rateLog.allow("quota load"); ok {
				q.log.Warn("client quotas not refreshed; enforcing the ones loaded before", "err", err, "failures", n)
			}
		}
	}()
}

// refresh loads the quotas when the metastore's version moved, and drops
// the rates no request has touched for a whole measurement.
func (q *quotas) refresh(ctx context.Context) error {
	if q.store == nil {
		return nil
	}
	v, err := q.store.ClientQuotasVersion(ctx)
	if err != nil {
		return err
	}
	b := q.book.Load()
	if b == nil || b.version != v {
		qs, v, err := q.store.ClientQuotas(ctx)
		if err != nil {
			return err
		}
		q.book.Store(newQuotaBook(qs, v))
		q.version.Set(float64(v))
		b = nil
	}
	idle := time.Now().Add(-time.Duration(q.cfg.WindowNum) * q.cfg.WindowSize).UnixNano()
	swept := false
	q.mu.Lock()
	for k, s := range q.sensors {
		if s.last.Load() < idle {
			delete(q.sensors, k)
			swept = true
		}
	}
	q.mu.Unlock()
	if b != nil && (swept || b.nClients.Load() > maxCachedClients) {
		// No cached client may go on with a rate no longer kept.
		q.book.CompareAndSwap(b, b.fresh())
	}
	return nil
}

// reload loads the quotas now: after this node changed them.
func (q *quotas) reload(ctx context.Context) {
	q.checked.Store(time.Now().UnixNano())
	if err := q.refresh(ctx); err != nil {
		q.loadErrors.Inc()
		q.log.Warn("client quotas not reloaded after a change", "err", err)
	}
}

// client returns the quotas of user and client id in book b.
func (q *quotas) client(b *quotaBook, user, client string) *quotaClient {
	key := [2]string{user, client}
	if v, ok := b.clients.Load(key); ok {
		return v.(*quotaClient)
	}
	qc := &quotaClient{none: true}
	for t := range numQuotaTypes {
		if v, k, ok := b.bound(t, user, client); ok {
			qc.bound[t], qc.sensor[t], qc.none = v, q.sensor(k), false
		}
	}
	v, loaded := b.clients.LoadOrStore(key, qc)
	if !loaded {
		b.nClients.Add(1)
	}
	return v.(*quotaClient)
}

func (q *quotas) sensor(k sensorKey) *rateSensor {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sensors[k]
	if s == nil {
		s = &rateSensor{samples: make([]rateSample, q.cfg.WindowNum)}
		q.sensors[k] = s
	}
	return s
}

// quotaCall is one request's quota accounting: begun when the request is
// decoded, ended when its response is about to be written.
type quotaCall struct {
	q        *quotas
	cl       *quotaClient
	key      int16
	reqBytes int
	start    time.Time
	handler  time.Duration
}

// begin starts the accounting of a request of frameBytes; nil (which every
// method takes) when no quota can apply to it.
func (q *quotas) begin(r *request, frameBytes int) *quotaCall {
	if q == nil || q.store == nil {
		return nil
	}
	q.maybeRefresh()
	b := q.book.Load()
	if b == nil || len(b.values) == 0 || quotaExempt(r.key) {
		return nil
	}
	cl := q.client(b, quotaUser(r.principal()), r.clientID)
	if cl.none {
		return nil
	}
	return &quotaCall{q: q, cl: cl, key: r.key, reqBytes: frameBytes, start: time.Now()}
}

// handled ends the handler's synchronous part.
func (c *quotaCall) handled() {
	if c != nil {
		c.handler = time.Since(c.start)
	}
}

// throttle records the request's use of its quotas and returns how long
// its client is throttled, which it also sets in resp (nil for a request
// without a response). A throttled Fetch response loses its records.
func (c *quotaCall) throttle(resp kmsg.Response) time.Duration {
	if c == nil {
		return 0
	}
	now := time.Now().UnixNano()
	var by [numQuotaTypes]time.Duration
	var fetched float64
	switch c.key {
	case kmsg.Produce.Int16():
		by[quotaProduce] = c.record(quotaProduce, float64(c.reqBytes), now)
	case kmsg.Fetch.Int16():
		if fr, ok := resp.(*fetchResponse); ok {
			fetched = float64(fetchResponseBytes(fr))
			by[quotaFetch] = c.record(quotaFetch, fetched, now)
		}
	}
	by[quotaRequest] = c.record(quotaRequest, c.handler.Seconds()*100, now)
	t, which := time.Duration(0), quotaType(0)
	for i, d := range by {
		if d > t {
			t, which = d, quotaType(i)
		}
	}
	if t <= 0 {
		return 0
	}
	if fr, ok := resp.(*fetchResponse); ok {
		// Kafka's answer to a throttled fetch: no records, which
		// therefore do not count.
		c.record(quotaFetch, -fetched, now)
		fr.Topics, fr.batches = nil, nil
	}
	c.q.throttled.WithLabelValues(quotaTypeNames[which]).Inc()
	c.q.throttleSecs.WithLabelValues(quotaTypeNames[which]).Add(t.Seconds())
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		ms := int32(min(t.Milliseconds(), math.MaxInt32))
		if old, _ := tr.Throttle(); old < ms {
			resp.(kmsg.SetThrottleResponse).SetThrottle(ms)
		}
	}
	return t
}

// record adds v to the client's rate of type t and returns the throttle
// its quota asks for, 0 when under it or without one.
func (c *quotaCall) record(t quotaType, v float64, now int64) time.Duration {
	bound := c.cl.bound[t]
	if bound <= 0 {
		return 0
	}
	window := int64(c.q.cfg.WindowSize)
	rate, span := c.cl.sensor[t].record(v, now, window)
	if rate <= bound {
		return 0
	}
	// Kafka's throttle: the time at which the rate over the same span
	// would be back at the bound; at most the whole measured span, so
	// that one huge request does not shut its client out for days.
	d := time.Duration((rate - bound) / bound * float64(span))
	return min(d, time.Duration(c.q.cfg.WindowNum)*c.q.cfg.WindowSize)
}

// fetchResponseBytes is what a Fetch response counts against
// consumer_byte_rate: its records and an estimate of its other fields.
func fetchResponseBytes(fr *fetchResponse) int {
	n := responseSizeHint(fr)
	for _, t := range fr.batches {
		for _, b := range t {
			n += b.Len()
		}
	}
	return n
}

// rateSensor is a windowed rate, as Kafka's Rate over a SampledStat:
// samples of one window each, the oldest reused when the current one is
// complete, samples older than all of them together forgotten.
type rateSensor struct {
	mu      sync.Mutex
	samples []rateSample
	cur     int
	last    atomic.Int64 // unix nanos of the last record
}

type rateSample struct {
	start int64 // unix nanos
	value float64
}

// record adds v at now and returns the rate per second and the span it is
// measured over, in nanoseconds: from the oldest sample's start, and at
// least all windows but one, so that a new client's first requests are not
// measured over a few milliseconds.
func (s *rateSensor) record(v float64, now, window int64) (float64, int64) {
	s.last.Store(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int64(len(s.samples))
	cur := &s.samples[s.cur]
	if cur.start == 0 {
		cur.start = now
	} else if now >= cur.start+window {
		s.cur = (s.cur + 1) % len(s.samples)
		cur = &s.samples[s.cur]
		cur.start, cur.value = now, 0
	}
	cur.value += v
	total, oldest := 0.0, now
	for i := range s.samples {
		sm := &s.samples[i]
		if now-sm.start >= n*window {
			sm.start, sm.value = now, 0
		}
		total += sm.value
		oldest = min(oldest, sm.start)
	}
	span := now - oldest
	if full := span / window; full < n-1 {
		span += (n - 1 - full) * window
	}
	return total / (float64(span) / float64(time.Second)), span
}

// mute makes the connection read no request for d from now, as Kafka mutes
// a throttled client's channel once its response is sent (KIP-219).
func (c *conn) mute(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	for {
		old := c.mutedUntil.Load()
		if old >= until || c.mutedUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// waitUnmuted waits until the connection is no longer muted; false when
// the connection stops reading first.
func (c *conn) waitUnmuted() bool {
	for {
		d := time.Until(time.Unix(0, c.mutedUntil.Load()))
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.readCtx.Done():
			t.Stop()
			return false
		}
	}
}

// errNoQuotaStore: the server's metastore keeps no client quotas (a test's
// wrapper); the quota APIs answer as if the metastore were unavailable.
var errNoQuotaStore = errors.New("the metastore keeps no client quotas")

// stored reads every quota from the metastore, for DescribeClientQuotas.
func (q *quotas) stored(ctx context.Context) ([]metastore.ClientQuota, int64, error) {
	if q.store == nil {
		return nil, 0, errNoQuotaStore
	}
	return q.store.ClientQuotas(ctx)
}

// alter changes the stored quotas, then enforces the new ones on this node
// at once; other nodes see them at their next version check.
func (q *quotas) alter(ctx context.Context, alts []metastore.ClientQuotaAlteration) error {
	if q.store == nil {
		return errNoQuotaStore
	}
	if err := q.store.AlterClientQuotas(ctx, alts); err != nil {
		return err
	}
	q.reload(ctx)
	return nil
}
