package reader

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	cacheHits     prometheus.Counter
	cacheMisses   prometheus.Counter
	cacheBytes    prometheus.Gauge
	readSeconds   prometheus.Histogram
	objectGets    *prometheus.CounterVec
	readAheads    prometheus.Counter
	decodes       prometheus.Counter
	indexGaps     prometheus.Counter
	txnIndexReads prometheus.Counter
	waiting       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_reader_cache_hits_total",
			Help: "Chunk reads served from the cache of decoded chunks.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_reader_cache_misses_total",
			Help: "Chunk reads that had to decode or fetch the chunk.",
		}),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_reader_cache_bytes",
			Help: "Bytes held by the chunk and object cache.",
		}),
		readSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_reader_read_seconds",
			Help:    "Time to serve one partition read, long polls excluded.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		objectGets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_reader_object_gets_total",
			Help: "Object store reads made by the reader, by kind (whole object or ranged chunk).",
		}, []string{"kind"}),
		decodes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_reader_chunks_decoded_total",
			Help: "Chunks decompressed; more than the cache misses' distinct chunks means the cache is too small for the reads.",
		}),
		txnIndexReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_reader_txn_index_reads_total",
			Help: "Reads of a partition's transaction index from the metastore, for read_committed fetches.",
		}),
		indexGaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_reader_index_gaps_total",
			Help: "Reads refused because the chunk index skips offsets below the high watermark: a missing chunk row, which is corruption.",
		}),
		readAheads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_reader_read_ahead_total",
			Help: "Chunks a read started loading ahead of itself because they were not cached.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_reader_waiting_fetches",
			Help: "Fetches long-polling for records past the high watermark, each woken by a commit, a notification or the poll interval.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.cacheHits, m.cacheMisses, m.cacheBytes, m.readSeconds, m.objectGets, m.readAheads, m.decodes, m.indexGaps, m.txnIndexReads, m.waiting)
	}
	return m
}
