package compactor

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/metastore"
)

type metrics struct {
	rounds       *prometheus.CounterVec
	roundSeconds prometheus.Histogram
	leaseHeld    prometheus.Gauge

	objects      *prometheus.GaugeVec
	objectBytes  *prometheus.GaugeVec
	unreferenced prometheus.Gauge
	claims       prometheus.Gauge
	chunkRows    prometheus.Gauge
	maxRows      prometheus.Gauge
	level0Chunks prometheus.Gauge
	lag          prometheus.Gauge

	swaps          *prometheus.CounterVec
	mergedChunks   prometheus.Counter
	readBytes      prometheus.Counter
	gets           *prometheus.CounterVec
	writtenBytes   prometheus.Counter
	written        prometheus.Counter
	recordsRemoved prometheus.Counter
	logStarts      prometheus.Counter
	droppedChunks  prometheus.Counter
	deletions      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compactor_rounds_total",
			Help: "Compaction rounds, by result: ok, error, or skipped (another compactor holds the lease).",
		}, []string{"result"}),
		roundSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_compactor_round_seconds",
			Help:    "Duration of a compaction round.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		leaseHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compactor_lease_held",
			Help: "1 while this compactor holds the compactor lease.",
		}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_compactor_objects",
			Help: "Segment objects known to the metastore, by level.",
		}, []string{"level"}),
		objectBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_compactor_object_bytes",
			Help: "Bytes of the segment objects known to the metastore, by level.",
		}, []string{"level"}),
		unreferenced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compactor_unreferenced_objects",
			Help: "Objects no chunk references any more, waiting for their grace period.",
		}),
		claims: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compactor_orphan_claims",
			Help: "Claims of orphaned objects kept as tombstones, refusing a late commit of their keys, until the tombstone retention.",
		}),
		chunkRows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compactor_chunk_rows",
			Help: "Rows of the chunk index.",
		}),
		maxRows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compactor_partition_chunk_rows_max",
			Help: "Most chunk rows held by one partition.",
		}),
		level0Chunks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compactor_level0_chunks",
			Help: "Level-0 chunks not merged yet.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compactor_lag_seconds",
			Help: "Age of the oldest level-0 chunk not merged yet; 0 when there is none.",
		}),
		swaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compactor_swaps_total",
			Help: "Swaps of a partition's chunk rows for those of a new level-1 object, by result: ok, conflict (the partition's rows changed meanwhile), error.",
		}, []string{"result"}),
		mergedChunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compactor_merged_chunks_total",
			Help: "Chunk rows replaced by level-1 chunks.",
		}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compactor_read_bytes_total",
			Help: "Bytes read from the object store to be rewritten: chunk ranges, and whole level-0 objects in full.",
		}),
		gets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compactor_object_gets_total",
			Help: "Object store GETs of the merges, by kind: range (one chunk) or whole (a level-0 object read once for the chunks of several partitions).",
		}, []string{"kind"}),
		writtenBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compactor_rewritten_bytes_total",
			Help: "Bytes of the level-1 objects written.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compactor_objects_written_total",
			Help: "Level-1 objects written and swapped in; each holds the merges of one or more partitions.",
		}),
		recordsRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compactor_records_removed_total",
			Help: "Records removed by key compaction (superseded values and expired tombstones).",
		}),
		logStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compactor_retention_log_start_advances_total",
			Help: "Times retention moved a partition's log start offset.",
		}),
		droppedChunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compactor_retention_dropped_chunks_total",
			Help: "Chunk rows dropped because they lay below their partition's log start offset.",
		}),
		deletions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compactor_gc_deletions_total",
			Help: "Objects deleted, by kind: unreferenced (after the grace period) or orphan (never committed).",
		}, []string{"kind"}),
	}
	for _, r := range []string{"ok", "error", "skipped"} {
		m.rounds.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "conflict", "error"} {
		m.swaps.WithLabelValues(r)
	}
	for _, k := range []string{"range", "whole"} {
		m.gets.WithLabelValues(k)
	}
	for _, k := range []string{"unreferenced", "orphan"} {
		m.deletions.WithLabelValues(k)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{
			m.rounds, m.roundSeconds, m.leaseHeld, m.objects, m.objectBytes, m.unreferenced, m.claims, m.chunkRows,
			m.maxRows, m.level0Chunks, m.lag, m.swaps, m.mergedChunks, m.readBytes, m.gets, m.writtenBytes, m.written,
			m.recordsRemoved, m.logStarts, m.droppedChunks, m.deletions,
		} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register compactor metrics: %w", err)
			}
		}
	}
	return m, nil
}

// setStats updates the gauges from a metastore count.
func (m *metrics) setStats(st metastore.CompactionStats, lagSeconds float64) {
	m.objects.Reset()
	m.objectBytes.Reset()
	var unref int64
	for _, l := range st.Levels {
		lv := strconv.Itoa(int(l.Level))
		m.objects.WithLabelValues(lv).Set(float64(l.Objects))
		m.objectBytes.WithLabelValues(lv).Set(float64(l.Bytes))
		unref += l.Unreferenced
	}
	m.unreferenced.Set(float64(unref))
	m.claims.Set(float64(st.OrphanClaims))
	m.chunkRows.Set(float64(st.ChunkRows))
	m.maxRows.Set(float64(st.MaxPartitionChunkRows))
	m.level0Chunks.Set(float64(st.Level0Chunks))
	m.lag.Set(lagSeconds)
}
