// Package cost attributes a node's object-store work to topics, so that a
// user sees what each topic costs: the PUT of a level-0 object, which
// holds chunks of many topics, is shared among them by the compressed
// bytes of their chunks, and so is every GET of a whole object whose
// chunks the node knows. It exports the shares as Prometheus counters and
// prices them with unit prices (Prices).
//
// The node learns an object's layout when it commits it: a level-0 object
// of the produce path when its segment commits, a level-1 object of the
// compactor when its merges are swapped into the chunk index (Swapped).
// Each of those commits is also one metastore transaction, shared the same
// way. GETs of objects the node did not commit (written by another node)
// are counted under the topic "" (not attributed); the bytes stored per
// topic come from the metastore's chunk index instead. Work that never
// committed (an upload whose commit failed, a merge whose swap was left
// out) is not counted.
package cost

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/metastore"
)

// layoutsMax bounds the objects whose layout the meter remembers to share
// their GETs: the most recent ones, which are those readers GET.
const layoutsMax = 8192

// Usage is one topic's attributed object-store work since the node
// started. Requests are fractional: a topic with a quarter of an object's
// bytes has a quarter of its PUT.
type Usage struct {
	Puts     float64
	PutBytes float64
	Gets     float64
	GetBytes float64
	// ProducedBytes is the uncompressed record batch bytes committed
	// (level 0), to compare with the bytes stored.
	ProducedBytes float64
	// MetastoreTxns counts the metastore transactions that committed
	// this topic's objects (segment commits and compaction swaps),
	// shared as the objects are.
	MetastoreTxns float64
	// CompactionPuts and CompactionPutBytes are the part of Puts and
	// PutBytes that the compactor's level-1 objects account for.
	CompactionPuts     float64
	CompactionPutBytes float64
}

// share is a topic's part of one object.
type share struct {
	topic    uuid.UUID
	fraction float64
}

// Committer is the ingest path's commit.
type Committer interface {
	CommitSegment(ctx context.Context, seg metastore.SegmentSpec) ([]metastore.ChunkResult, error)
}

// TopicNamer names a topic id.
type TopicNamer interface {
	TopicByID(ctx context.Context, id uuid.UUID) (metastore.Topic, error)
}

// Meter accumulates the attribution.
type Meter struct {
	names TopicNamer
	start time.Time

	mu      sync.Mutex
	usage   map[uuid.UUID]*Usage // uuid.Nil: not attributed
	layouts map[string][]share
	order   []string // keys of layouts, oldest first
	named   map[uuid.UUID]string

	// The budgets, for their gauges (SetBudgets).
	putPrice     float64 // dollars per PUT
	nodeBudget   float64 // dollars a month
	topicBudgets map[string]float64
}

// Budgets returns the monthly PUT budgets in dollars of the node (0:
// none) and of topics, and the price of one PUT.
func (m *Meter) Budgets() (node float64, topics map[string]float64, putPrice float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	topics = make(map[string]float64, len(m.topicBudgets))
	for k, v := range m.topicBudgets {
		topics[k] = v
	}
	return m.nodeBudget, topics, m.putPrice
}

// SetBudgets sets what the budget gauges export: the PUT price of prices
// and the monthly budgets of the node and of topics (cfg).
func (m *Meter) SetBudgets(prices Prices, cfg Config) error {
	topics, err := cfg.TopicBudgets()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putPrice = prices.PutPer1000 / 1000
	m.nodeBudget = cfg.MonthlyPutBudget
	m.topicBudgets = topics
	return nil
}

// New returns a meter that names topics through names and registers its
// counters with reg (nil: none).
func New(names TopicNamer, reg prometheus.Registerer) *Meter {
	m := &Meter{names: names, start: time.Now(), usage: map[uuid.UUID]*Usage{},
		layouts: map[string][]share{}, named: map[uuid.UUID]string{}}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

// Since is when the meter started counting.
func (m *Meter) Since() time.Time { return m.start }

// Committer wraps the ingest path's commit: once a segment is committed,
// its PUT is shared among the topics of its chunks.
func (m *Meter) Committer(inner Committer) Committer { return committer{inner, m} }

type committer struct {
	inner Committer
	m     *Meter
}

func (c committer) CommitSegment(ctx context.Context, seg metastore.SegmentSpec) ([]metastore.ChunkResult, error) {
	res, err := c.inner.CommitSegment(ctx, seg)
	if err == nil {
		c.m.committed(seg)
	}
	return res, err
}

// Shares returns each topic's fraction of a segment: its chunks'
// compressed bytes over all the chunks' bytes.
func Shares(seg metastore.SegmentSpec) map[uuid.UUID]float64 {
	var total int64
	by := map[uuid.UUID]int64{}
	for _, ch := range seg.Chunks {
		by[ch.TopicID] += ch.Length
		total += ch.Length
	}
	out := make(map[uuid.UUID]float64, len(by))
	for id, n := range by {
		if total > 0 {
			out[id] = float64(n) / float64(total)
		} else {
			out[id] = 1 / float64(len(by))
		}
	}
	return out
}

func (m *Meter) committed(seg metastore.SegmentSpec) {
	shares := Shares(seg)
	raw := map[uuid.UUID]int64{}
	for _, ch := range seg.Chunks {
		raw[ch.TopicID] += ch.RawLength
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	layout := make([]share, 0, len(shares))
	for id, f := range shares {
		u := m.usageLocked(id)
		u.Puts += f
		u.PutBytes += f * float64(seg.ObjectSize)
		u.ProducedBytes += float64(raw[id])
		u.MetastoreTxns += f
		layout = append(layout, share{id, f})
	}
	m.rememberLocked(seg.ObjectKey, layout)
}

// rememberLocked keeps an object's layout for its later GETs, forgetting
// the oldest beyond layoutsMax.
func (m *Meter) rememberLocked(key string, layout []share) {
	if _, ok := m.layouts[key]; !ok {
		m.order = append(m.order, key)
		if len(m.order) > layoutsMax {
			delete(m.layouts, m.order[0])
			m.order = m.order[1:]
		}
	}
	m.layouts[key] = layout
}

// Swapped attributes one metastore.CompactionStore.SwapObject call of the
// compactor that succeeded with results (one per swap, nil when applied):
// the call was one metastore transaction, shared by the applied swaps'
// topics by the compressed bytes of their new chunks, and the level-1
// object's PUT is shared the same way, by those bytes over the object's
// size, so that an object swapped in by several calls is counted once
// over all of them. The object's layout is kept for its GETs.
func (m *Meter) Swapped(swaps []metastore.ChunkSwap, results []error) {
	if len(swaps) == 0 {
		return
	}
	by := map[uuid.UUID]int64{}
	var applied int64
	for i, sw := range swaps {
		if i < len(results) && results[i] != nil {
			continue
		}
		for _, c := range sw.New {
			by[sw.TopicID] += c.Length
			applied += c.Length
		}
	}
	if len(by) == 0 {
		return
	}
	size := swaps[0].ObjectSize
	m.mu.Lock()
	defer m.mu.Unlock()
	layout := append([]share(nil), m.layouts[swaps[0].ObjectKey]...)
	for id, n := range by {
		f := float64(n) / float64(max(size, applied, 1))
		u := m.usageLocked(id)
		u.Puts += f
		u.PutBytes += f * float64(size)
		u.CompactionPuts += f
		u.CompactionPutBytes += f * float64(size)
		u.MetastoreTxns += float64(n) / float64(max(applied, 1))
		layout = append(layout, share{id, f})
	}
	m.rememberLocked(swaps[0].ObjectKey, layout)
}

func (m *Meter) usageLocked(id uuid.UUID) *Usage {
	u, ok := m.usage[id]
	if !ok {
		u = &Usage{}
		m.usage[id] = u
	}
	return u
}

// got attributes one GET of key that returned n bytes.
func (m *Meter) got(key string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	layout, ok := m.layouts[key]
	if !ok {
		u := m.usageLocked(uuid.Nil)
		u.Gets++
		u.GetBytes += float64(n)
		return
	}
	for _, s := range layout {
		u := m.usageLocked(s.topic)
		u.Gets += s.fraction
		u.GetBytes += s.fraction * float64(n)
	}
}

// Objects wraps the node's object store: GETs are attributed.
func (m *Meter) Objects(inner objstore.Store) objstore.Store { return objects{inner, m} }

type objects struct {
	objstore.Store
	m *Meter
}

func (o objects) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := o.Store.Get(ctx, key)
	if err == nil {
		o.m.got(key, len(b))
	}
	return b, err
}

func (o objects) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := o.Store.GetRange(ctx, key, off, n)
	if err == nil {
		o.m.got(key, len(b))
	}
	return b, err
}

// Usage returns the attributed work by topic name; "" is what could not
// be attributed, and a topic deleted since is named by its id.
func (m *Meter) Usage(ctx context.Context) map[string]Usage {
	m.mu.Lock()
	ids := make([]uuid.UUID, 0, len(m.usage))
	snap := make(map[uuid.UUID]Usage, len(m.usage))
	for id, u := range m.usage {
		ids = append(ids, id)
		snap[id] = *u
	}
	m.mu.Unlock()
	out := make(map[string]Usage, len(snap))
	for _, id := range ids {
		name := m.name(ctx, id)
		u := out[name]
		s := snap[id]
		u.Puts += s.Puts
		u.PutBytes += s.PutBytes
		u.Gets += s.Gets
		u.GetBytes += s.GetBytes
		u.ProducedBytes += s.ProducedBytes
		u.MetastoreTxns += s.MetastoreTxns
		u.CompactionPuts += s.CompactionPuts
		u.CompactionPutBytes += s.CompactionPutBytes
		out[name] = u
	}
	return out
}

// name resolves a topic id once; names are read off the commit path.
func (m *Meter) name(ctx context.Context, id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	m.mu.Lock()
	n, ok := m.named[id]
	m.mu.Unlock()
	if ok {
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	t, err := m.names.TopicByID(ctx, id)
	if err != nil {
		return id.String() // deleted, or the metastore is away: try again later
	}
	m.mu.Lock()
	m.named[id] = t.Name
	m.mu.Unlock()
	return t.Name
}

var (
	descPuts        = prometheus.NewDesc("strata_cost_object_puts_total", "Object PUTs of committed objects (produce path and compactor) attributed to each topic by the compressed bytes of its chunks (fractional).", []string{"topic"}, nil)
	descPutBytes    = prometheus.NewDesc("strata_cost_object_put_bytes_total", "Object bytes PUT for committed objects (produce path and compactor), attributed to each topic by the bytes of its chunks.", []string{"topic"}, nil)
	descCompPuts    = prometheus.NewDesc("strata_cost_compaction_puts_total", "The part of strata_cost_object_puts_total that the compactor's level-1 objects account for.", []string{"topic"}, nil)
	descTxns        = prometheus.NewDesc("strata_cost_metastore_transactions_total", "Metastore transactions that committed objects (segment commits, compaction swaps), attributed to each topic as the objects are (fractional).", []string{"topic"}, nil)
	descGets        = prometheus.NewDesc("strata_cost_object_gets_total", "Object GETs attributed to each topic by the bytes of its chunks in the object (fractional); topic \"\" is not attributed (objects this node did not commit).", []string{"topic"}, nil)
	descGetBytes    = prometheus.NewDesc("strata_cost_object_get_bytes_total", "Object bytes downloaded, attributed to each topic as its GETs are.", []string{"topic"}, nil)
	descPutPrice    = prometheus.NewDesc("strata_cost_put_price_dollars", "Price of one object PUT in dollars, from -cost.prices.", nil, nil)
	descNodeBudget  = prometheus.NewDesc("strata_cost_node_put_budget_dollars", "This node's monthly PUT budget in dollars (-cost.monthly-put-budget); 0: none.", nil, nil)
	descTopicBudget = prometheus.NewDesc("strata_cost_topic_put_budget_dollars", "A topic's monthly PUT budget in dollars for the whole cluster (-cost.topic-put-budgets).", []string{"topic"}, nil)
	descProduced    = prometheus.NewDesc("strata_cost_produced_bytes_total", "Uncompressed record batch bytes committed to level-0 objects, by topic.", []string{"topic"}, nil)
)

// Describe implements prometheus.Collector.
func (m *Meter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPuts, descPutBytes, descCompPuts, descTxns, descGets, descGetBytes, descProduced, descPutPrice, descNodeBudget, descTopicBudget} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Meter) Collect(ch chan<- prometheus.Metric) {
	for name, u := range m.Usage(context.Background()) {
		ch <- prometheus.MustNewConstMetric(descPuts, prometheus.CounterValue, u.Puts, name)
		ch <- prometheus.MustNewConstMetric(descPutBytes, prometheus.CounterValue, u.PutBytes, name)
		ch <- prometheus.MustNewConstMetric(descCompPuts, prometheus.CounterValue, u.CompactionPuts, name)
		ch <- prometheus.MustNewConstMetric(descTxns, prometheus.CounterValue, u.MetastoreTxns, name)
		ch <- prometheus.MustNewConstMetric(descGets, prometheus.CounterValue, u.Gets, name)
		ch <- prometheus.MustNewConstMetric(descGetBytes, prometheus.CounterValue, u.GetBytes, name)
		ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, u.ProducedBytes, name)
	}
	node, topics, price := m.Budgets()
	ch <- prometheus.MustNewConstMetric(descPutPrice, prometheus.GaugeValue, price)
	ch <- prometheus.MustNewConstMetric(descNodeBudget, prometheus.GaugeValue, node)
	for _, name := range sortedNames(topics) {
		ch <- prometheus.MustNewConstMetric(descTopicBudget, prometheus.GaugeValue, topics[name], name)
	}
}
