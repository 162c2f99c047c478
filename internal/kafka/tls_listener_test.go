package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv/certs"
)

// principalProbe wraps the server's ApiVersions handler to report the
// principal of each ApiVersions request, so that a test sees who a
// connection authenticated as.
func principalProbe(got chan<- string) func(*Server) {
	return func(s *Server) {
		h := s.handlers[apiVersionsKey]
		inner := h.fn
		h.fn = func(s *Server, ctx context.Context, r *request) (Reply, error) {
			select {
			case got <- r.principal():
			default:
			}
			return inner(s, ctx, r)
		}
		s.handlers[apiVersionsKey] = h
	}
}

// TestMTLSPrincipal: a client certificate's principal is its subject's
// distinguished name, as Kafka's default, or its common name with
// -kafka.tls.principal-from-cn; a connection without one is anonymous.
func TestMTLSPrincipal(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, dir, "ca")
	server := ca.Server(t, dir, "server")
	alice := ca.Client(t, dir, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Example"}, Country: []string{"NL"}})
	for _, tc := range []struct {
		fromCN bool
		cert   bool
		want   string
	}{
		{false, true, "User:CN=alice,OU=eng,O=Example,C=NL"},
		{true, true, "User:alice"},
		{false, false, "User:ANONYMOUS"},
	} {
		got := make(chan string, 1)
		ts := startServer(t, noDataPath{}, principalProbe(got), func(c *Config) {
			c.Listeners = "SSL://127.0.0.1:0"
			c.TLS = TLSConfig{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: ca.File,
				ClientAuth: ClientAuthRequest, PrincipalFromCN: tc.fromCN}
		})
		tcfg := &tls.Config{RootCAs: ca.Pool()}
		if tc.cert {
			tcfg.Certificates = []tls.Certificate{alice.TLS(t)}
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.DialTLSConfig(tcfg))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl); err != nil {
			t.Fatalf("ApiVersions over TLS: %v", err)
		}
		cancel()
		cl.Close()
		if p := <-got; p != tc.want {
			t.Errorf("principal-from-cn %v, certificate %v: principal %q, want %q", tc.fromCN, tc.cert, p, tc.want)
		}
	}
}

// TestTLSConfigValidate: TLS listeners need a loadable certificate, and
// client authentication an authority file.
func TestTLSConfigValidate(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, dir, "ca")
	server := ca.Server(t, dir, "server")
	for _, tc := range []struct {
		name string
		tls  TLSConfig
		ok   bool
	}{
		{"ok", TLSConfig{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientAuth: "none"}, true},
		{"no-cert", TLSConfig{ClientAuth: "none"}, false},
		{"missing-file", TLSConfig{CertFile: dir + "/nope.pem", KeyFile: server.KeyFile, ClientAuth: "none"}, false},
		{"bad-client-auth", TLSConfig{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientAuth: "want"}, false},
		{"require-without-ca", TLSConfig{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientAuth: "require"}, false},
		{"require", TLSConfig{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientAuth: "require", ClientCAFile: ca.File}, true},
		{"ca-not-pem", TLSConfig{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientAuth: "require", ClientCAFile: server.KeyFile}, false},
	} {
		cfg := testConfig(t)
		cfg.Listeners, cfg.TLS = "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", tc.tls
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	// Without a TLS listener the TLS flags are not needed.
	cfg := testConfig(t)
	cfg.Listeners = "PLAINTEXT://127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Errorf("plaintext listener without TLS flags: %v", err)
	}
	cfg.AdvertisedListeners = "PLAINTEXT://0.0.0.0:9092"
	if err := cfg.Validate(); err == nil {
		t.Error("an unspecified advertised host was accepted")
	}
}
