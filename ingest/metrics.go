package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	segments       *prometheus.CounterVec
	seals          *prometheus.CounterVec
	openSeconds    prometheus.Histogram
	segmentBytes   prometheus.Histogram
	segmentChunks  prometheus.Histogram
	uploadSeconds  prometheus.Histogram
	commitSeconds  prometheus.Histogram
	appendSeconds  prometheus.Histogram
	bufferedBytes  prometheus.Gauge
	throttleSecs   prometheus.Counter
	rejectedBatchs *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_ingest_segments_total",
			Help: "Segments sealed, by outcome (committed, upload_failed, commit_failed).",
		}, []string{"result"}),
		seals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_ingest_seals_total",
			Help: "Segments sealed, by reason (idle, budget, half, size, memory, flush).",
		}, []string{"reason"}),
		openSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_ingest_segment_open_seconds",
			Help:    "Time from a segment's first produce to its seal.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		segmentBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_ingest_segment_bytes",
			Help:    "Size of uploaded segment objects.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		segmentChunks: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_ingest_segment_chunks",
			Help:    "Partition chunks per segment.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_ingest_segment_upload_seconds",
			Help:    "Time to encode and PUT one segment.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_ingest_segment_commit_seconds",
			Help:    "Time of one segment's metastore commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_ingest_append_seconds",
			Help:    "Time from enqueue to durable commit of a produce.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_ingest_buffered_bytes",
			Help: "Bytes held by the open segment and segments not yet committed.",
		}),
		throttleSecs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_ingest_throttle_seconds_total",
			Help: "Time producers waited for the memory budget.",
		}),
		rejectedBatchs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_ingest_rejected_batches_total",
			Help: "Record batches rejected before or at commit, by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.segments, m.seals, m.openSeconds, m.segmentBytes, m.segmentChunks, m.uploadSeconds, m.commitSeconds,
			m.appendSeconds, m.bufferedBytes, m.throttleSecs, m.rejectedBatchs)
	}
	return m
}
