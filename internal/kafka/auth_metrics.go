package kafka

import "github.com/prometheus/client_golang/prometheus"

// authMetrics count what the listeners' security does: failed TLS
// handshakes and SASL authentications by outcome. Their labels are fixed
// sets (listener names from the flags, mechanisms the server offers), never
// a client's input.
type authMetrics struct {
	tlsHandshakes        *prometheus.CounterVec
	tlsHandshakeFailures *prometheus.CounterVec
	authentications      *prometheus.CounterVec
}

func newAuthMetrics(reg prometheus.Registerer) *authMetrics {
	m := &authMetrics{
		tlsHandshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_tls_handshakes_total",
			Help: "TLS handshakes completed on an SSL or SASL_SSL listener, by listener.",
		}, []string{"listener"}),
		tlsHandshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_tls_handshake_failures_total",
			Help: "TLS handshakes that failed on an SSL or SASL_SSL listener (a plaintext client, an untrusted or missing client certificate, a stalled client), by listener.",
		}, []string{"listener"}),
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_sasl_authentications_total",
			Help: "SASL authentications on SASL listeners, by mechanism and result (ok, failed, unsupported_mechanism).",
		}, []string{"mechanism", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.tlsHandshakes, m.tlsHandshakeFailures, m.authentications)
	}
	return m
}

// resultUnauthenticated is the strata_kafka_requests_total result of a
// request refused because the connection had not authenticated, or its
// session had expired: the connection is closed.
const resultUnauthenticated = "unauthenticated"
