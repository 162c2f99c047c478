package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	franzsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/sasl"
)

// saslServer is a test server with one SASL_PLAINTEXT listener and
// users alice and bob, whose credentials the metastore keeps for both
// SCRAM mechanisms.
func startSASLServer(t *testing.T, opts ...any) *testServer {
	t.Helper()
	opts = append([]any{
		func(c *Config) {
			c.Listeners = "SASL_PLAINTEXT://127.0.0.1:0"
			// About who connects, not what ACLs allow (authorize_test.go).
			c.Auth.AllowEveryoneIfNoACLFound = acl.OptionalBool{IsSet: true, Value: true}
		},
		func(s *Server) {
			srv, err := sasl.NewServer(s.cfg.SASL, s.meta.(sasl.Credentials), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.sasl = srv
		},
	}, opts...)
	ts := startServer(t, opts...)
	for _, u := range []struct{ user, pass string }{{"alice", "alice-secret"}, {"bob", "bob-secret"}} {
		for _, mech := range []string{sasl.ScramSHA256, sasl.ScramSHA512} {
			c, err := sasl.NewCredential(mech, u.user, u.pass, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if err := ts.store.UpsertScramCredential(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ts
}

func mechanism(name, user, pass string) franzsasl.Mechanism {
	switch name {
	case sasl.Plain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case sasl.ScramSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
}

// TestSASLFranzGo authenticates franz-go with every password mechanism,
// then produces and reads the metadata on the authenticated connection.
func TestSASLFranzGo(t *testing.T) {
	ts := startSASLServer(t)
	for _, mech := range []string{sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cl, _ := ts.clients(t, kgo.SASL(mechanism(mech, "alice", "alice-secret")), kgo.DefaultProduceTopic("sasl-"+mech),
				kgo.AllowAutoTopicCreation())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce after %s: %v", mech, err)
			}
			if got := ts.authCount(mech, "ok"); got < 1 {
				t.Errorf("%s authentications ok = %v, want at least 1", mech, got)
			}
		})
	}
}

func (s *testServer) authCount(mech, result string) float64 {
	return testutil.ToFloat64(s.auth.authentications.WithLabelValues(mech, result))
}

// TestSASLWrongCredentials: a wrong password and an unknown user get
// SASL_AUTHENTICATION_FAILED with the same message, and their connection
// is closed; an authenticated client on the same node carries on.
func TestSASLWrongCredentials(t *testing.T) {
	ts := startSASLServer(t)
	good, _ := ts.clients(t, kgo.SASL(mechanism(sasl.ScramSHA512, "bob", "bob-secret")), kgo.DefaultProduceTopic("carry-on"),
		kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, tc := range []struct{ mech, user, pass string }{
		{sasl.ScramSHA256, "alice", "wrong"},
		{sasl.ScramSHA256, "nobody", "wrong"},
		{sasl.Plain, "alice", "wrong"},
		{sasl.Plain, "nobody", "wrong"},
	} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.SASL(mechanism(tc.mech, tc.user, tc.pass)), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		_, err = kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
		rcancel()
		cl.Close()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("%s as %s with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", tc.mech, tc.user, err)
		}
		msgs = append(msgs, strings.ReplaceAll(err.Error(), tc.user, "USER"))
	}
	if msgs[0] != msgs[1] || msgs[2] != msgs[3] {
		t.Errorf("a wrong password and an unknown user are told apart:\n%s", strings.Join(msgs, "\n"))
	}
	if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("the authenticated client after the failures: %v", err)
	}
}

// TestSASLGating: before authenticating, a connection of a SASL listener
// gets ApiVersions answered, and any other request closes it.
func TestSASLGating(t *testing.T) {
	ts := startSASLServer(t)
	c := ts.dial(t)
	if resp := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 0).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions before authentication: error %d", resp.ErrorCode)
	}
	c.send(metadataRequest(true), 4, 7)
	if err := expectClose(c.nc, 5*time.Second); err != nil {
		t.Fatalf("Metadata before authentication: %v", err)
	}
	if got := ts.counter("Metadata", resultUnauthenticated); got != 1 {
		t.Errorf("Metadata refused as unauthenticated %v times, want 1", got)
	}

	// A PLAINTEXT listener has no SASL: a handshake there is refused.
	plain := startServer(t, noDataPath{})
	pc := plain.dial(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = sasl.Plain
	if resp := pc.roundTrip(hs, 1).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Errorf("SaslHandshake on a PLAINTEXT listener: error %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
	}

	// An unsupported mechanism is named in the answer, then closed.
	c = ts.dial(t)
	hs.Mechanism = "GSSAPI"
	resp := c.roundTrip(hs, 1).(*kmsg.SASLHandshakeResponse)
	if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(resp.SupportedMechanisms) == 0 {
		t.Errorf("SaslHandshake GSSAPI: error %d, mechanisms %v; want UNSUPPORTED_SASL_MECHANISM and the list", resp.ErrorCode, resp.SupportedMechanisms)
	}
	if err := expectClose(c.nc, 5*time.Second); err != nil {
		t.Errorf("after an unsupported mechanism: %v", err)
	}
}

// TestSASLHandshakeV0 authenticates with Kafka's first framing: a
// SaslHandshake v0, then the PLAIN token raw, answered by a raw empty
// token; then requests are served.
func TestSASLHandshakeV0(t *testing.T) {
	ts := startSASLServer(t)
	c := ts.dial(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = sasl.Plain
	if resp := c.roundTrip(hs, 0).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
		t.Fatalf("SaslHandshake v0: error %d", resp.ErrorCode)
	}
	tok := []byte("\x00alice\x00alice-secret")
	c.write(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))
	c.write(tok)
	var head [4]byte
	if _, err := io.ReadFull(c.br, head[:]); err != nil {
		t.Fatalf("read the raw reply: %v", err)
	}
	if n := binary.BigEndian.Uint32(head[:]); n != 0 {
		t.Fatalf("raw reply of %d bytes, want an empty token", n)
	}
	if resp := c.roundTrip(metadataRequest(true), 4).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatalf("Metadata after a v0 authentication: %d brokers", len(resp.Brokers))
	}

	// A wrong password with the v0 framing closes the connection.
	c = ts.dial(t)
	c.roundTrip(hs, 0)
	tok = []byte("\x00alice\x00wrong")
	c.write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
	if err := expectClose(c.nc, 10*time.Second); err != nil {
		t.Fatalf("wrong password, v0 framing: %v", err)
	}
}

// TestSASLReauthentication (KIP-368): with -kafka.sasl.max-reauth, the
// SaslAuthenticate response tells the session lifetime; franz-go
// re-authenticates within it and keeps producing on its connection, and a
// client that does not is closed at its next request after the session.
func TestSASLReauthentication(t *testing.T) {
	const lifetime = 1500 * time.Millisecond
	ts := startSASLServer(t, func(c *Config) { c.SASLMaxReauth = lifetime })

	// A raw client authenticates once and is told the lifetime.
	c := ts.dial(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = sasl.Plain
	c.roundTrip(hs, 1)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SASLAuthBytes = []byte("\x00alice\x00alice-secret")
	start := time.Now()
	resp := c.roundTrip(auth, 1).(*kmsg.SASLAuthenticateResponse)
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 0 || resp.SessionLifetimeMillis > lifetime.Milliseconds() {
		t.Fatalf("SaslAuthenticate: error %d, session lifetime %dms; want 0 and at most %v", resp.ErrorCode, resp.SessionLifetimeMillis, lifetime)
	}

	// franz-go produces across several lifetimes on one connection.
	cl, _ := ts.clients(t, kgo.SASL(mechanism(sasl.ScramSHA256, "alice", "alice-secret")), kgo.DefaultProduceTopic("reauth"),
		kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deadline := time.Now().Add(3 * lifetime)
	for n := 0; time.Now().Before(deadline); n++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("r")}).FirstErr(); err != nil {
			t.Fatalf("produce %d, %v after the first authentication: %v", n, time.Since(start), err)
		}
	}
	if got := ts.authCount(sasl.ScramSHA256, "ok"); got < 3 {
		t.Errorf("franz-go authenticated %v times over three session lifetimes, want at least 3", got)
	}

	// The raw client did not re-authenticate: its session is over, and
	// its next request closes the connection.
	if time.Since(start) < lifetime {
		t.Fatal("the session is not over yet")
	}
	c.send(metadataRequest(true), 4, 8)
	if err := expectClose(c.nc, 5*time.Second); err != nil {
		t.Fatalf("a request after the session ended: %v", err)
	}
}

// TestFailureDelayGrows: each failure from one address waits longer, up
// to the cap; another address starts afresh; a quiet address is forgotten.
func TestFailureDelayGrows(t *testing.T) {
	d := newFailureDelay()
	now := time.Now()
	var last time.Duration
	for i := range 10 {
		got := d.fail("10.0.0.1", now)
		if i > 0 && got < last {
			t.Fatalf("failure %d: delay %v after %v", i, got, last)
		}
		last = got
	}
	if last != failureDelayMax {
		t.Errorf("after 10 failures the delay is %v, want the cap %v", last, failureDelayMax)
	}
	if got := d.fail("10.0.0.2", now); got != failureDelayBase {
		t.Errorf("another address: delay %v, want %v", got, failureDelayBase)
	}
	if got := d.fail("10.0.0.1", now.Add(failureMemory+time.Second)); got != failureDelayBase {
		t.Errorf("an address quiet for %v: delay %v, want %v", failureMemory, got, failureDelayBase)
	}
}

// TestSASLPrincipal: a connection is User:ANONYMOUS until SASL succeeds,
// then the user's principal.
func TestSASLPrincipal(t *testing.T) {
	got := make(chan string, 1)
	ts := startSASLServer(t, principalProbe(got))
	c := ts.dial(t)
	c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 0)
	if p := <-got; p != "User:ANONYMOUS" {
		t.Fatalf("before authentication: %q", p)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = sasl.Plain
	c.roundTrip(hs, 1)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SASLAuthBytes = []byte("\x00bob\x00bob-secret")
	if resp := c.roundTrip(auth, 2).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != 0 {
		t.Fatalf("SaslAuthenticate: error %d", resp.ErrorCode)
	}
	c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 0)
	if p := <-got; p != "User:bob" {
		t.Fatalf("after authenticating as bob: %q", p)
	}
	// Re-authenticating as another user fails and closes the connection.
	c.roundTrip(hs, 1)
	auth.SASLAuthBytes = []byte("\x00alice\x00alice-secret")
	if resp := c.roundTrip(auth, 2).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authenticating as alice: error %d, want SASL_AUTHENTICATION_FAILED", resp.ErrorCode)
	}
	if err := expectClose(c.nc, 10*time.Second); err != nil {
		t.Fatalf("after a failed re-authentication: %v", err)
	}
}
