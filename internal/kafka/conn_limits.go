package kafka

import (
	"flag"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection creation rates, as Kafka bounds them (KIP-612):
//
//   - Config.MaxConnectionCreationRate is the node's, Kafka's broker-wide
//     max.connection.creation.rate. When new connections arrive faster,
//     the listeners stop accepting for the time it takes the rate to fall
//     back to the bound: the connections wait in the kernel's backlog,
//     whoever opens them. It protects the node from the cost of accepting
//     (and of TLS handshakes), not one client from another.
//   - Config.ConnectionCreationRatePerIP is each client address's, Kafka's
//     connection_creation_rate quota of the default ip entity. A
//     connection that would take its address over the bound is not
//     served and not counted, and is closed once the address's rate is
//     back at the bound (Kafka's delayed close of a throttled
//     connection), so that a client reconnecting in a loop waits for
//     each refusal rather than spinning: a flood of connections from one
//     address costs the node an accept and a timer each, and the
//     attacker a wait. Its well-behaved neighbours, which open few
//     connections, are not affected. Behind a load balancer that does not
//     keep the client's address, every client shares the balancer's few
//     addresses: leave the rate unset there, as Kafka's default does.
//
// Both rates are measured as the client quotas' (quota.go): QuotaConfig's
// windows, the throttle being the time the rate needs to fall back to the
// bound, at most the whole measured span.

// maxDelayedCloses bounds the refused connections held open until their
// delayed close; beyond it a refused connection is closed at once, so that
// a flood cannot take the node's file descriptors.
const maxDelayedCloses = 1000

// rejectConnectionRatePerIP is the reason label of
// strata_kafka_connections_rejected_total for a connection refused by
// Config.ConnectionCreationRatePerIP.
const rejectConnectionRatePerIP = "connection_creation_rate_per_ip"

func (c *Config) registerConnRateFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.MaxConnectionCreationRate, "kafka.max-connection-creation-rate", 0, "new connections per second the node accepts, as Kafka's max.connection.creation.rate; beyond, the listeners wait before accepting (0: no limit)")
	fs.Float64Var(&c.ConnectionCreationRatePerIP, "kafka.connection-creation-rate-per-ip", 0, "new connections per second from one client address, as Kafka's connection_creation_rate ip quota; beyond, a new connection is refused and closed after the throttle time (0: no limit)")
}

func (c *Config) validateConnRates() error {
	if c.MaxConnectionCreationRate < 0 {
		return fmt.Errorf("kafka: max connection creation rate %g is negative", c.MaxConnectionCreationRate)
	}
	if c.ConnectionCreationRatePerIP < 0 {
		return fmt.Errorf("kafka: connection creation rate per ip %g is negative", c.ConnectionCreationRatePerIP)
	}
	return nil
}

// connRates enforces the connection creation rates of one server.
type connRates struct {
	node, perIP float64 // per second; 0: none
	windowNum   int
	window      time.Duration

	nodeSensor *rateSensor

	mu      sync.Mutex
	ips     map[string]*rateSensor
	swept   time.Time
	delayed map[net.Conn]*time.Timer // refused, closed when their timer fires
	closed  bool
	stop    chan struct{} // closed by close: ends the listeners' waits

	acceptWait prometheus.Counter
}

func newConnRates(cfg Config, reg prometheus.Registerer) *connRates {
	q := cfg.Quotas.withDefaults()
	r := &connRates{
		node: cfg.MaxConnectionCreationRate, perIP: cfg.ConnectionCreationRatePerIP,
		windowNum: q.WindowNum, window: q.WindowSize,
		nodeSensor: &rateSensor{samples: make([]rateSample, q.WindowNum)},
		ips:        map[string]*rateSensor{},
		delayed:    map[net.Conn]*time.Timer{},
		stop:       make(chan struct{}),
		acceptWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_connection_accept_throttle_seconds_total",
			Help: "Time the Kafka listeners waited before accepting, for -kafka.max-connection-creation-rate.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.acceptWait)
	}
	return r
}

// throttle is the time a rate of rate over span (nanoseconds) needs to
// fall back to bound, at most the whole window.
func (r *connRates) throttle(rate, bound float64, span int64) time.Duration {
	if rate <= bound {
		return 0
	}
	d := time.Duration((rate - bound) / bound * float64(span))
	return min(d, time.Duration(r.windowNum)*r.window)
}

// waitAccept counts a connection just accepted against the node's rate
// and, when that takes the rate over its bound, waits before the listener
// accepts the next one. It returns early when the server closes.
func (r *connRates) waitAccept() {
	if r.node <= 0 {
		return
	}
	rate, span := r.nodeSensor.record(1, time.Now().UnixNano(), int64(r.window))
	d := r.throttle(rate, r.node, span)
	if d <= 0 {
		return
	}
	r.acceptWait.Add(d.Seconds())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.stop:
	}
}

// allowIP counts a new connection from addr against the address's rate
// and returns 0 when it may be served, or else how long to hold it before
// closing it; a refused connection is not counted.
func (r *connRates) allowIP(addr string) time.Duration {
	if r.perIP <= 0 {
		return 0
	}
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.swept) > time.Duration(r.windowNum)*r.window {
		// Forget the addresses idle for a whole measurement, so that
		// the map holds only recent clients.
		idle := now.Add(-time.Duration(r.windowNum) * r.window).UnixNano()
		for a, s := range r.ips {
			if s.last.Load() < idle {
				delete(r.ips, a)
			}
		}
		r.swept = now
	}
	s := r.ips[addr]
	if s == nil {
		s = &rateSensor{samples: make([]rateSample, r.windowNum)}
		r.ips[addr] = s
	}
	r.mu.Unlock()
	rate, span := s.record(1, now.UnixNano(), int64(r.window))
	d := r.throttle(rate, r.perIP, span)
	if d > 0 {
		s.record(-1, now.UnixNano(), int64(r.window))
	}
	return d
}

// closeLater closes nc after d, or at once when too many refused
// connections are held already or the server is closing.
func (r *connRates) closeLater(nc net.Conn, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.delayed) >= maxDelayedCloses {
		nc.Close()
		return
	}
	r.delayed[nc] = time.AfterFunc(d, func() {
		r.mu.Lock()
		delete(r.delayed, nc)
		r.mu.Unlock()
		nc.Close()
	})
}

// close ends the listeners' waits and closes the refused connections
// still held: the server is shutting down.
func (r *connRates) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.stop)
	for nc, t := range r.delayed {
		t.Stop()
		nc.Close()
	}
	clear(r.delayed)
}

// refuseByRate refuses nc from addr when its address is over
// Config.ConnectionCreationRatePerIP: counted, logged (rate-limited) and
// closed after the throttle time. s.mu must be held.
func (s *Server) refuseByRate(nc net.Conn, addr string) bool {
	d := s.connRates.allowIP(addr)
	if d <= 0 {
		return false
	}
	s.metrics.connRejected.WithLabelValues(rejectConnectionRatePerIP).Inc()
	s.connRates.closeLater(nc, d)
	if ok, n := s.rateLog.allow("reject " + rejectConnectionRatePerIP); ok {
		s.log.Warn("connection refused: client over its connection creation rate", "reason", rejectConnectionRatePerIP,
			"client", addr, "rate", s.cfg.ConnectionCreationRatePerIP, "close_in", d.Round(time.Millisecond), "refused", n)
	}
	return true
}
