// Package cost attributes a node's object-store work to topics, so that a
// user sees what each topic costs: the PUT of a level-0 object, which
// holds chunks of many topics, is shared among them by the compressed
// bytes of their chunks, and so is every GET of a whole object whose
// chunks the node knows. It exports the shares as Prometheus counters and
// prices them with unit prices (Prices).
//
// Only the produce path's objects are attributed: the node learns their
// layout when it commits them. GETs of objects it did not commit (written
// by another node, or level-1 objects of the compactor) and the
// compactor's PUTs are counted under the topic "" (not attributed); the
// bytes stored per topic come from the metastore's chunk index instead.
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
		layout = append(layout, share{id, f})
	}
	if _, ok := m.layouts[seg.ObjectKey]; !ok {
		m.order = append(m.order, seg.ObjectKey)
		if len(m.order) > layoutsMax {
			delete(m.layouts, m.order[0])
			m.order = m.order[1:]
		}
	}
	m.layouts[seg.ObjectKey] = layout
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
	descPuts     = prometheus.NewDesc("strata_cost_object_puts_total", "Object PUTs of the produce path attributed to each topic by the compressed bytes of its chunks (fractional); topic \"\" is not attributed.", []string{"topic"}, nil)
	descPutBytes = prometheus.NewDesc("strata_cost_object_put_bytes_total", "Object bytes PUT by the produce path, attributed to each topic by the bytes of its chunks.", []string{"topic"}, nil)
	descGets     = prometheus.NewDesc("strata_cost_object_gets_total", "Object GETs attributed to each topic by the bytes of its chunks in the object (fractional); topic \"\" is not attributed (objects this node did not commit).", []string{"topic"}, nil)
	descGetBytes = prometheus.NewDesc("strata_cost_object_get_bytes_total", "Object bytes downloaded, attributed to each topic as its GETs are.", []string{"topic"}, nil)
	descProduced = prometheus.NewDesc("strata_cost_produced_bytes_total", "Uncompressed record batch bytes committed to level-0 objects, by topic.", []string{"topic"}, nil)
)

// Describe implements prometheus.Collector.
func (m *Meter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPuts, descPutBytes, descGets, descGetBytes, descProduced} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Meter) Collect(ch chan<- prometheus.Metric) {
	for name, u := range m.Usage(context.Background()) {
		ch <- prometheus.MustNewConstMetric(descPuts, prometheus.CounterValue, u.Puts, name)
		ch <- prometheus.MustNewConstMetric(descPutBytes, prometheus.CounterValue, u.PutBytes, name)
		ch <- prometheus.MustNewConstMetric(descGets, prometheus.CounterValue, u.Gets, name)
		ch <- prometheus.MustNewConstMetric(descGetBytes, prometheus.CounterValue, u.GetBytes, name)
		ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, u.ProducedBytes, name)
	}
}
