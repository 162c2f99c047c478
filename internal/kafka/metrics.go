package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Values of the result label of strata_kafka_requests_total.
const (
	resultOK          = "ok"          // answered (the response may carry Kafka error codes)
	resultNoResponse  = "no_response" // handled, nothing to answer (acks=0)
	resultMalformed   = "malformed"   // frame or body did not decode: connection closed
	resultUnsupported = "unsupported" // unknown API key or version: connection closed
	resultTooLarge    = "too_large"   // frame above max request bytes, or charged above the request budget: connection closed
	resultStalled     = "stalled"     // the rest of the request did not arrive within the request read timeout: connection closed
	resultFailed      = "failed"      // handler error or panic: connection closed
	resultAborted     = "aborted"     // connection closed before the response was written
	resultUnavailable = "unavailable" // a collaborator failed and the request has no error to say so: connection closed
)

type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connections prometheus.Gauge
	topicCache  *prometheus.CounterVec
	produced    prometheus.Counter
	fetched     prometheus.Counter

	connRejected *prometheus.CounterVec
	budgetBytes  prometheus.Gauge
	budgetWaits  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_requests_total",
			Help: "Kafka requests received, by API and result.",
		}, []string{"api", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_kafka_request_seconds",
			Help:    "Time from a Kafka request being read to its response being written.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"api"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_kafka_connections",
			Help: "Open Kafka client connections.",
		}),
		topicCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_topic_cache_lookups_total",
			Help: "Topic lookups of Produce, Fetch and Metadata, by result: hit, unknown_hit (a cached answer that the topic does not exist), miss, stale (the metastore failed and an expired entry was served).",
		}, []string{"result"}),
		produced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_produce_bytes_total",
			Help: "Record batch bytes of Produce requests handed to the produce path.",
		}),
		fetched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_fetch_bytes_total",
			Help: "Record batch bytes returned by Fetch responses.",
		}),
		connRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_connections_rejected_total",
			Help: "Kafka client connections closed at once because a limit was reached, by reason (max_connections, max_connections_per_ip, connection_creation_rate_per_ip).",
		}, []string{"reason"}),
		budgetBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_kafka_request_budget_bytes",
			Help: "Bytes of the request budget (kafka.max-queued-request-bytes) charged to requests being read or handled.",
		}),
		budgetWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_request_budget_waits_total",
			Help: "Requests whose connection waited, not reading, for the request budget.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.connections, m.topicCache, m.produced, m.fetched,
			m.connRejected, m.budgetBytes, m.budgetWaits)
	}
	return m
}

// apiName is the api label of a request key; unknown keys share one value,
// so a client cannot grow the label set.
func apiName(key int16) string {
	return kmsg.NameForKey(key)
}
