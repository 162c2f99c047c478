package groups

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/metastore"
)

// LagStore is the part of the metastore the lag collector reads.
type LagStore interface {
	ListGroups(ctx context.Context) ([]metastore.GroupInfo, error)
	FetchOffsets(ctx context.Context, group string, topics []string) ([]metastore.GroupOffset, error)
	TopicByName(ctx context.Context, name string) (metastore.Topic, error)
	Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error)
}

// Lag collection bounds: a scrape reads at most maxLagGroups groups and
// gives up after lagScrapeTimeout, so that a cluster with many groups or a
// slow metastore never stalls /metrics.
const (
	maxLagGroups     = 1000
	lagScrapeTimeout = 5 * time.Second
)

// LagCollector exports every consumer group's lag, per partition: the high
// watermark less the committed offset, as kafka-consumer-groups prints it.
// It reads the metastore when scraped, and only while active reports true:
// the app makes that the cluster controller, so that each group appears
// once across the cluster, and groups whose consumers have all gone (the
// ones an alert on lag is for) are still reported.
type LagCollector struct {
	store  LagStore
	active func() bool
	log    *slog.Logger

	lag       *prometheus.Desc
	errors    prometheus.Counter
	truncated prometheus.Gauge
}

// NewLagCollector returns a collector of group lag; register it on the
// node's registry. logger may be nil.
func NewLagCollector(store LagStore, active func() bool, logger *slog.Logger) *LagCollector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LagCollector{
		store:  store,
		active: active,
		log:    logger.With("component", "groups"),
		lag: prometheus.NewDesc("strata_groups_lag_records",
			"Records between a group's committed offset and the partition's high watermark. Exported by the cluster controller only.",
			[]string{"group", "topic", "partition"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_groups_lag_scrape_errors_total",
			Help: "Scrapes of group lag that could not read the metastore; their lag series are missing.",
		}),
		truncated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_groups_lag_groups_omitted",
			Help: "Groups left out of the last lag scrape because there are more than it reads.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	c.errors.Describe(ch)
	c.truncated.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	if c.active() {
		ctx, cancel := context.WithTimeout(context.Background(), lagScrapeTimeout)
		if err := c.collect(ctx, ch); err != nil {
			c.errors.Inc()
			c.log.Warn("group lag scrape", "err", err)
		}
		cancel()
	}
	c.errors.Collect(ch)
	c.truncated.Collect(ch)
}

func (c *LagCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	groups, err := c.store.ListGroups(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(groups, func(a, b metastore.GroupInfo) int { return strings.Compare(a.Name, b.Name) })
	omitted := max(0, len(groups)-maxLagGroups)
	c.truncated.Set(float64(omitted))
	groups = groups[:len(groups)-omitted]

	// ends caches each topic's high watermarks for this scrape; nil for
	// a topic deleted since the offsets were committed.
	ends := map[string][]int64{}
	for _, g := range groups {
		offsets, err := c.store.FetchOffsets(ctx, g.Name, nil)
		if err != nil {
			return err
		}
		for _, o := range offsets {
			hw, seen := ends[o.Topic]
			if !seen {
				if hw, err = c.highWatermarks(ctx, o.Topic); err != nil {
					return err
				}
				ends[o.Topic] = hw
			}
			if o.Partition < 0 || int(o.Partition) >= len(hw) {
				continue
			}
			lag := max(0, hw[o.Partition]-o.Offset)
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag),
				g.Name, o.Topic, strconv.Itoa(int(o.Partition)))
		}
	}
	return nil
}

// highWatermarks returns a topic's high watermarks by partition, nil for
// an unknown topic.
func (c *LagCollector) highWatermarks(ctx context.Context, topic string) ([]int64, error) {
	t, err := c.store.TopicByName(ctx, topic)
	if err != nil {
		if metastore.Expected(err) {
			return nil, nil
		}
		return nil, err
	}
	parts, err := c.store.Partitions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	hw := make([]int64, t.Partitions)
	for _, p := range parts {
		if p.Partition >= 0 && p.Partition < t.Partitions {
			hw[p.Partition] = p.NextOffset
		}
	}
	return hw, nil
}
