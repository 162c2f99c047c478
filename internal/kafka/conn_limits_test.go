package kafka

import (
	"bufio"
	"flag"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsFrame is an ApiVersions v0 request, correlation id 7.
func apiVersionsFrame() []byte {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("t")).AppendRequest(nil, req, 7)
}

// askVersions sends ApiVersions on nc and reports whether an answer came
// back, and when the connection was closed without one: never (the zero
// time) when it answered or stayed open for within.
func askVersions(nc net.Conn, within time.Duration) (answered bool, closedAt time.Time) {
	nc.SetDeadline(time.Now().Add(within))
	nc.Write(apiVersionsFrame())
	var b [4]byte
	n, err := io.ReadFull(nc, b[:])
	if n > 0 {
		return true, time.Time{}
	}
	if err != nil && !isTimeout(err) {
		return false, time.Now()
	}
	return false, time.Time{}
}

// TestConnectionCreationRatePerIP: connections from one address beyond
// its connection creation rate are refused (no request answered) and
// closed after the throttle time rather than at once, and are not
// counted; another address, and the same one once its rate is back under
// the bound, are served.
func TestConnectionCreationRatePerIP(t *testing.T) {
	const rate, window = 5, 2 * time.Second
	s := startServer(t, func(c *Config) {
		c.ConnectionCreationRatePerIP = rate
		c.Quotas.WindowNum, c.Quotas.WindowSize = 2, window
	})
	// The rate is measured over at least one window, so the first
	// rate*window connections are within it.
	const n = 2 * rate * 2
	start := time.Now()
	var conns []net.Conn
	for range n {
		nc, err := s.dialFrom(t, "127.0.0.21")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	dialed := time.Since(start)
	eventually(t, 10*time.Second, "every connection served or refused", func() bool {
		return s.openConns()+s.rejected(rejectConnectionRatePerIP) == n
	})
	refused := int(s.rejected(rejectConnectionRatePerIP))
	if dialed < window && refused < n-rate*2-1 {
		t.Fatalf("%d of %d connections dialed in %v refused, want at least %d", refused, n, dialed, n-rate*2-1)
	}
	if refused == 0 {
		t.Fatalf("no connection of %d refused", n)
	}
	answered, closed := 0, 0
	for _, nc := range conns {
		ok, at := askVersions(nc, 2*2*window)
		switch {
		case ok:
			answered++
		case !at.IsZero():
			closed++
		}
	}
	if answered != n-refused || closed != refused {
		t.Fatalf("%d connections answered and %d closed, want %d and %d", answered, closed, n-refused, refused)
	}
	// A refused connection is held until its address is back at the
	// bound (Kafka's delayed close), not closed at once.
	if got := testutil.ToFloat64(s.metrics.connRejected.WithLabelValues(rejectMaxConnectionsPerIP)); got != 0 {
		t.Fatalf("refused by the connection count: %v", got)
	}
	// Another address has a rate of its own.
	other, err := s.dialFrom(t, "127.0.0.22")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := askVersions(other, 10*time.Second); !ok {
		t.Fatal("a connection from another address was not served")
	}
	// The refused connections were not counted: once the window has
	// moved on, the address is served again.
	eventually(t, 4*window, "the address served again", func() bool {
		nc, err := s.dialFrom(t, "127.0.0.21")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ok, _ := askVersions(nc, 5*time.Second)
		return ok
	})
}

// TestConnectionCreationRateDelaysClose: a refused connection is closed
// after its throttle time, not at once, so that a client reconnecting in
// a loop waits.
func TestConnectionCreationRateDelaysClose(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.ConnectionCreationRatePerIP = 1
		c.Quotas.WindowNum, c.Quotas.WindowSize = 2, 10*time.Second
	})
	first, err := s.dialFrom(t, "127.0.0.23")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "first connection served", func() bool { return s.openConns() == 1 })
	// Ten connections within the window's ten seconds are within a rate
	// of one a second; the next one is not.
	for range 9 {
		if _, err := s.dialFrom(t, "127.0.0.23"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "ten connections served", func() bool { return s.openConns() == 10 })
	start := time.Now()
	nc, err := s.dialFrom(t, "127.0.0.23")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "connection refused", func() bool { return s.rejected(rejectConnectionRatePerIP) == 1 })
	// At 11 connections over at most 10.x s against a bound of 1/s, the
	// throttle is (11/span-1)*span = 11-span: at least 0.5 s while the
	// span is under 10.5 s.
	ok, at := askVersions(nc, 30*time.Second)
	if ok || at.IsZero() {
		t.Fatalf("refused connection: answered %v, closed %v", ok, !at.IsZero())
	}
	if took := at.Sub(start); took < 500*time.Millisecond && time.Since(start) < 10*time.Second {
		t.Fatalf("refused connection closed after %v, before its throttle", took)
	}
	if ok, _ := askVersions(first, 10*time.Second); !ok {
		t.Fatal("a connection served before the refusal stopped answering")
	}
}

// TestMaxConnectionCreationRate: beyond the node's connection creation
// rate, the listener waits before accepting: every connection is served,
// none refused, but no faster than the rate allows.
func TestMaxConnectionCreationRate(t *testing.T) {
	const rate, n = 10, 30
	s := startServer(t, func(c *Config) {
		c.MaxConnectionCreationRate = rate
		c.Quotas.WindowNum, c.Quotas.WindowSize = 2, time.Second
	})
	start := time.Now()
	var conns []*rawConn
	for range n {
		// Connections complete in the kernel's backlog while the
		// listener waits.
		nc, err := s.dialFrom(t, "127.0.0.24")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)})
	}
	for _, c := range conns {
		c.nc.SetDeadline(time.Now().Add(30 * time.Second))
		if resp := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 2).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
		}
	}
	took := time.Since(start)
	// Two windows of one second hold at most rate*2 connections and the
	// one that went over; the rest waited for the windows to move.
	if min := time.Duration(n-2*rate-1) * time.Second / rate; took < min {
		t.Fatalf("%d connections served in %v, faster than %d/s allows (%v)", n, took, rate, min)
	}
	if wait := testutil.ToFloat64(s.connRates.acceptWait); wait <= 0 {
		t.Fatal("no accept wait counted")
	}
	for _, reason := range []string{rejectMaxConnections, rejectMaxConnectionsPerIP, rejectConnectionRatePerIP} {
		if got := s.rejected(reason); got != 0 {
			t.Fatalf("rejected{%s} = %v", reason, got)
		}
	}
	t.Logf("%d connections served in %v at a bound of %d/s", n, took.Round(time.Millisecond), rate)
}

// TestConnectionRateFlags: the flags set the rates; negative ones are
// refused.
func TestConnectionRateFlags(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnectionCreationRate != 0 || cfg.ConnectionCreationRatePerIP != 0 {
		t.Fatalf("default rates %v and %v, want none", cfg.MaxConnectionCreationRate, cfg.ConnectionCreationRatePerIP)
	}
	if err := fs.Parse([]string{"-kafka.max-connection-creation-rate=50", "-kafka.connection-creation-rate-per-ip=2.5"}); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnectionCreationRate != 50 || cfg.ConnectionCreationRatePerIP != 2.5 {
		t.Fatalf("rates %v and %v", cfg.MaxConnectionCreationRate, cfg.ConnectionCreationRatePerIP)
	}
	for _, f := range []func(*Config){
		func(c *Config) { c.MaxConnectionCreationRate = -1 },
		func(c *Config) { c.ConnectionCreationRatePerIP = -0.5 },
	} {
		c := testConfig(t)
		f(&c)
		if err := c.Validate(); err == nil {
			t.Fatalf("%+v accepted", c)
		}
	}
}
