package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/sasl"
)

// SASL on the SASL_PLAINTEXT and SASL_SSL listeners (see doc.go and
// docs/security.md). A connection starts unauthenticated: until a SASL
// exchange succeeds it may send only ApiVersions, SaslHandshake and
// SaslAuthenticate, each at most maxUnauthenticatedFrame bytes, and any
// other request closes it. SaslHandshake names the mechanism; at v1 the
// exchange's messages then come in SaslAuthenticate requests, at v0 as
// raw length-prefixed tokens with no request header (Kafka's first
// framing). A failed exchange is answered SASL_AUTHENTICATION_FAILED (a
// closed connection at v0), after a delay that grows with the failures of
// the client's address, and the connection is closed.
//
// KIP-368: with -kafka.sasl.max-reauth, or a credential that expires (an
// OAUTHBEARER token), a session ends: SaslAuthenticate v1+ tells the
// client its lifetime, and once it is over the connection may send only
// SaslHandshake and SaslAuthenticate, to authenticate again as the same
// principal; any other request closes it.

// maxUnauthenticatedFrame bounds the requests of a connection that has not
// authenticated, as Kafka's sasl.server.max.receive.size.
const maxUnauthenticatedFrame = 512 << 10

// saslState is a connection's SASL progress; touched only by its read
// goroutine (handlers run there).
type saslState struct {
	// done: the connection has authenticated at least once.
	done bool
	// mechanism and exchange are the exchange in progress; nil between
	// exchanges.
	mechanism string
	exchange  sasl.Exchange
	// raw: the exchange uses the v0 framing, raw tokens.
	raw bool
	// expiry is when the session ends; zero: never.
	expiry time.Time
}

var (
	errUnauthenticated = errors.New("request before SASL authentication")
	errSessionExpired  = errors.New("request after the SASL session expired without re-authentication")
)

// gate refuses a request, by its key and length, that the connection may
// not send in its authentication state. It runs before the request's body
// is read.
func (c *conn) gate(key int16, length int) error {
	if !c.listener.SASL() {
		return nil
	}
	saslKey := key == saslHandshakeKey || key == saslAuthenticateKey
	if !c.sasl.done {
		if !saslKey && key != apiVersionsKey {
			return fmt.Errorf("%w: %s", errUnauthenticated, apiName(key))
		}
		if length > maxUnauthenticatedFrame {
			return fmt.Errorf("%w: %d bytes, at most %d before authentication", errFrameTooLarge, length, maxUnauthenticatedFrame)
		}
		return nil
	}
	if !saslKey && !c.sasl.expiry.IsZero() && time.Now().After(c.sasl.expiry) {
		return fmt.Errorf("%w: %s", errSessionExpired, apiName(key))
	}
	return nil
}

// Keys of the APIs gate knows.
var (
	apiVersionsKey      = kmsg.ApiVersions.Int16()
	saslHandshakeKey    = kmsg.SASLHandshake.Int16()
	saslAuthenticateKey = kmsg.SASLAuthenticate.Int16()
)

// authStep is the outcome of one message of an exchange.
type authStep struct {
	reply  []byte
	done   bool
	failed error // the client's error message when the exchange failed
}

// saslStep passes one client message to the exchange in progress and,
// when it completes, authenticates the connection.
func (c *conn) saslStep(ctx context.Context, msg []byte) authStep {
	st := &c.sasl
	mech := st.mechanism
	reply, done, err := st.exchange.Next(ctx, msg)
	if err == nil && done && st.done && st.exchange.Principal() != c.principal {
		err = fmt.Errorf("%w: re-authentication must keep the principal", sasl.ErrAuthenticationFailed)
	}
	if err != nil {
		st.exchange, st.mechanism = nil, ""
		c.s.auth.authentications.WithLabelValues(mech, "failed").Inc()
		msg := "authentication failed"
		if errors.Is(err, sasl.ErrAuthenticationFailed) {
			msg = err.Error() // safe to send, by sasl's contract
		} else {
			c.log.Warn("SASL authentication error", "mechanism", mech, "err", err)
		}
		if ok, n := c.s.rateLog.allow("sasl failed"); ok {
			c.log.Info("SASL authentication failed", "mechanism", mech, "listener", c.listener.Name, "failed", n)
		}
		return authStep{failed: errors.New(msg)}
	}
	if !done {
		return authStep{reply: reply}
	}
	c.principal = st.exchange.Principal()
	st.done = true
	st.expiry = time.Time{}
	now := time.Now()
	if d := c.s.cfg.SASLMaxReauth; d > 0 {
		st.expiry = now.Add(d)
	}
	if exp := st.exchange.Expiry(); !exp.IsZero() && (st.expiry.IsZero() || exp.Before(st.expiry)) {
		st.expiry = exp
	}
	st.exchange, st.mechanism = nil, ""
	c.s.auth.authentications.WithLabelValues(mech, "ok").Inc()
	c.log.Debug("SASL authenticated", "mechanism", mech, "principal", c.principal, "session_expiry", st.expiry)
	return authStep{reply: reply, done: true}
}

// sessionLifetimeMillis is SaslAuthenticate's session_lifetime_ms: the
// time left of the session, 0 when it does not end.
func (c *conn) sessionLifetimeMillis() int64 {
	if c.sasl.expiry.IsZero() {
		return 0
	}
	return max(time.Until(c.sasl.expiry).Milliseconds(), 1)
}

// failAuthentication answers a failed authentication with resp after the
// address's failure delay, as the connection's last response.
func (c *conn) failAuthentication(resp func() kmsg.Response) Reply {
	c.closeAfter = true
	delay := c.s.authFailures.fail(c.addr, time.Now())
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return resp()
	}}
}

// readSASLToken reads and answers one raw token of a v0 exchange. It
// returns false when the connection must be closed.
func (c *conn) readSASLToken() bool {
	if c.armDeadline() != nil {
		return false
	}
	var head [4]byte
	if _, err := io.ReadFull(c.nc, head[:]); err != nil {
		return false
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > maxUnauthenticatedFrame {
		c.log.Debug("closing connection: SASL token too large", "bytes", n)
		return false
	}
	if c.armRequestDeadline() != nil {
		return false
	}
	tok := make([]byte, n)
	if _, err := io.ReadFull(c.nc, tok); err != nil {
		return false
	}
	start := time.Now()
	step := c.saslStep(c.ctx, tok)
	if step.failed != nil {
		// The v0 framing has no error: the connection is closed, after
		// the same delay as a v1 failure.
		delay := c.s.authFailures.fail(c.addr, start)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.ctx.Done():
		}
		return false
	}
	c.sasl.raw = !step.done
	return c.enqueue(&slot{key: saslAuthenticateKey, start: start, raw: append([]byte{}, step.reply...)})
}

// writeRaw writes a raw token of a v0 exchange, length-prefixed.
func (c *conn) writeRaw(bw *bufio.Writer, sl *slot) bool {
	var head [4]byte
	binary.BigEndian.PutUint32(head[:], uint32(len(sl.raw)))
	c.armWriteDeadline()
	bw.Write(head[:])
	if _, err := bw.Write(sl.raw); err != nil {
		c.abort()
		return false
	}
	c.s.metrics.requests.WithLabelValues(apiName(sl.key), resultOK).Inc()
	return true
}

// failureDelay is the delay before answering a failed authentication, by
// client address: failureDelayBase after the first failure, doubling with
// each failure up to failureDelayMax, and forgotten failureMemory after an
// address's last failure. It slows password guessing from one address
// without holding a server thread: the delay runs in the failed
// connection's own goroutine.
type failureDelay struct {
	base time.Duration // the first failure's delay, doubled by each next one
	mu   sync.Mutex
	m    map[string]*addrFailures
}

type addrFailures struct {
	n    int
	last time.Time
}

const (
	failureDelayBase = 100 * time.Millisecond
	failureDelayMax  = 5 * time.Second
	failureMemory    = time.Minute
	// failureAddrs bounds the addresses remembered; beyond it the ones
	// forgotten are dropped first, then everything.
	failureAddrs = 100000
)

func newFailureDelay() *failureDelay {
	return &failureDelay{base: failureDelayBase, m: map[string]*addrFailures{}}
}

// fail records a failure of addr at now and returns its delay.
func (d *failureDelay) fail(addr string, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.m[addr]
	if f == nil || now.Sub(f.last) > failureMemory {
		if len(d.m) >= failureAddrs {
			d.prune(now)
		}
		f = &addrFailures{}
		d.m[addr] = f
	}
	f.n++
	f.last = now
	delay := d.base << min(f.n-1, 16)
	return min(delay, failureDelayMax)
}

func (d *failureDelay) prune(now time.Time) {
	for a, f := range d.m {
		if now.Sub(f.last) > failureMemory {
			delete(d.m, a)
		}
	}
	if len(d.m) >= failureAddrs {
		clear(d.m)
	}
}

// mechanisms lists the mechanisms offered.
func (s *Server) mechanisms() []string {
	if s.sasl == nil {
		return []string{}
	}
	return slices.Clone(s.sasl.Mechanisms())
}
