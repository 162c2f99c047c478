package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/testenv/certs"
)

// secureNode is an in-process strata dev node with TLS listeners, and the
// certificates its clients use.
type secureNode struct {
	*apptest.Node
	dir    string
	ca     *certs.CA
	server certs.Pair
}

// startSecure starts a dev node with the given -kafka.listeners (ports 0)
// and a server certificate of a fresh CA; args are more flags.
func startSecure(t *testing.T, listeners string, args ...string) *secureNode {
	t.Helper()
	dir := t.TempDir()
	ca := certs.NewCA(t, dir, "strata-test")
	server := ca.Server(t, dir, "server")
	n := apptest.Start(t, apptest.Dev, append([]string{
		"-kafka.listeners", listeners,
		"-kafka.tls.cert-file", server.CertFile, "-kafka.tls.key-file", server.KeyFile,
		"-ingest.flush-interval", "20ms",
		// These tests are about who connects, not what ACLs allow: a
		// listener that authenticates would otherwise close every
		// resource without ACLs (docs/authorization.md).
		"-auth.allow-everyone-if-no-acl-found=true",
	}, args...)...)
	return &secureNode{Node: n, dir: dir, ca: ca, server: server}
}

// addr is the bound address of the named listener.
func (n *secureNode) addr(t testing.TB, listener string) string {
	t.Helper()
	a := n.App.KafkaListenerAddr(listener)
	if a == nil {
		t.Fatalf("no listener %s", listener)
	}
	return a.String()
}

// tlsOpt is franz-go's dialer for TLS trusting the node's CA.
func (n *secureNode) tlsOpt(certs ...tls.Certificate) kgo.Opt {
	return kgo.DialTLSConfig(&tls.Config{RootCAs: n.ca.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12})
}

// produceConsume produces three records to a new topic through cl and
// reads them back through a second client of the same options.
func produceConsume(t *testing.T, addr, topic string, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}, opts...)...)
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce to %s over %s: %v", topic, addr, err)
		}
	}
	if n := consumeN(t, addr, topic, 3, opts...); n != 3 {
		t.Fatalf("read %d records of %s back over %s, want 3", n, topic, addr)
	}
}

// consumeN reads topic from the start over addr until it has read want
// records or a while passes, and returns how many it read.
func consumeN(t *testing.T, addr, topic string, want int, opts ...kgo.Opt) int {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for n < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch %s over %s: %v", topic, addr, err)
			}
		})
		n += fs.NumRecords()
	}
	return n
}

// metadataBrokers returns the brokers a Metadata request over addr lists.
func metadataBrokers(t *testing.T, addr string, opts ...kgo.Opt) []string {
	t.Helper()
	cl := newClient(t, addr, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata over %s: %v", addr, err)
	}
	var out []string
	for _, b := range resp.Brokers {
		out = append(out, net.JoinHostPort(b.Host, fmt.Sprint(b.Port)))
	}
	return out
}

// TestTLSListeners serves a PLAINTEXT and an SSL listener at once: each
// client is told the addresses of the listener it connected on (Metadata
// and FindCoordinator), and franz-go, kcat, kafka-python and
// confluent-kafka produce and consume over SSL.
func TestTLSListeners(t *testing.T) {
	n := startSecure(t, "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0")
	plain, ssl := n.addr(t, "PLAINTEXT"), n.addr(t, "SSL")

	t.Run("advertised-per-listener", func(t *testing.T) {
		if got := metadataBrokers(t, plain); len(got) != 1 || got[0] != plain {
			t.Errorf("Metadata over PLAINTEXT lists %v, want [%s]", got, plain)
		}
		if got := metadataBrokers(t, ssl, n.tlsOpt()); len(got) != 1 || got[0] != ssl {
			t.Errorf("Metadata over SSL lists %v, want [%s]", got, ssl)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorKeys = "g", []string{"g"}
		resp, err := req.RequestWith(ctx, newClient(t, ssl, n.tlsOpt()))
		if err != nil {
			t.Fatal(err)
		}
		host, port := resp.Host, resp.Port
		if len(resp.Coordinators) == 1 {
			host, port = resp.Coordinators[0].Host, resp.Coordinators[0].Port
		}
		if got := net.JoinHostPort(host, fmt.Sprint(port)); got != ssl {
			t.Errorf("FindCoordinator over SSL answers %s, want %s", got, ssl)
		}
	})
	t.Run("franz-go", func(t *testing.T) { produceConsume(t, ssl, "tls-franz", n.tlsOpt()) })
	t.Run("kcat", func(t *testing.T) {
		sslArgs := []string{"-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + n.ca.File}
		kcat(t, ssl, "a\nb\nc\n", append([]string{"-P", "-t", "tls-kcat"}, sslArgs...)...)
		recs := kcatConsume(t, ssl, "tls-kcat", sslArgs...)
		if len(recs) != 3 {
			t.Fatalf("kcat read %d records over SSL, want 3: %+v", len(recs), recs)
		}
	})
	for _, lib := range []string{"kafka-python", "confluent"} {
		t.Run(lib, func(t *testing.T) {
			out := runSecureClient(t, lib, ssl, "tls-"+lib, "SECURITY_PROTOCOL=SSL", "CA_FILE="+n.ca.File)
			if !strings.Contains(out, "consumed 3") {
				t.Fatalf("%s over SSL: %s", lib, out)
			}
		})
	}
}

// runSecureClient runs testdata/secure_client.py with lib and the
// environment env, and returns its output; it fails the test when the
// client fails.
func runSecureClient(t *testing.T, lib, addr, topic string, env ...string) string {
	t.Helper()
	out, errOut, err := runSecureClientErr(t, lib, addr, topic, env...)
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", lib, err, out, errOut)
	}
	return out
}

func runSecureClientErr(t *testing.T, lib, addr, topic string, env ...string) (string, string, error) {
	t.Helper()
	python := pythonProg.require(t)
	if lib == "confluent" {
		python = requireConfluent(t)
	}
	return runEnv(time.Minute, env, python, filepath.Join("testdata", "secure_client.py"), lib, addr, topic)
}

// TestTLSWrongProtocol: TLS to a plaintext port and plaintext to a TLS
// port fail clearly for that client, while the node and a client already
// connected over SSL carry on.
func TestTLSWrongProtocol(t *testing.T) {
	n := startSecure(t, "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0")
	plain, ssl := n.addr(t, "PLAINTEXT"), n.addr(t, "SSL")
	good := newClient(t, ssl, n.tlsOpt(), kgo.DefaultProduceTopic("wrong-proto"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// A TLS client on the plaintext port: its ClientHello reads as an
	// oversized request and the node closes the connection.
	if _, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", plain, &tls.Config{RootCAs: n.ca.Pool()}); err == nil {
		t.Error("a TLS handshake with the plaintext listener succeeded")
	}
	_, errOut, err := runErr(30*time.Second, "", kcatProg.require(t), "-b", plain, "-L", "-m", "5",
		"-X", "security.protocol=ssl", "-X", "ssl.ca.location="+n.ca.File)
	if err == nil {
		t.Error("kcat over SSL to the plaintext listener succeeded")
	}
	if !strings.Contains(errOut, "connecting to a PLAINTEXT broker listener?") {
		t.Errorf("kcat over SSL to the plaintext port does not say why it failed:\n%s", errOut)
	}

	// A plaintext client on the TLS port: the handshake fails at once.
	_, errOut, err = runErr(30*time.Second, "", kcatProg.require(t), "-b", ssl, "-L", "-m", "5")
	if err == nil {
		t.Error("kcat in plaintext to the SSL listener succeeded")
	}
	if !strings.Contains(errOut, "connecting to a SSL listener?") {
		t.Errorf("kcat in plaintext to the SSL port does not say why it failed:\n%s", errOut)
	}
	pc := newClient(t, ssl, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(pctx, pc); err == nil {
		t.Error("franz-go in plaintext to the SSL listener got a Metadata answer")
	}

	if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("the SSL client, after the bad clients: %v", err)
	}
	if got := metadataBrokers(t, plain); len(got) != 1 {
		t.Fatalf("a plaintext client after the bad clients: brokers %v", got)
	}
}

// TestMTLSKcat requires client certificates: kcat with one signed by the
// client CA is served, kcat without one is refused at the handshake.
func TestMTLSKcat(t *testing.T) {
	dir := t.TempDir()
	clientCA := certs.NewCA(t, dir, "clients")
	n := startSecure(t, "SSL://127.0.0.1:0", "-kafka.tls.client-ca-file", clientCA.File, "-kafka.tls.client-auth", "require")
	ssl := n.addr(t, "SSL")
	alice := clientCA.Client(t, dir, pkix.Name{CommonName: "alice", Organization: []string{"Example"}})
	args := []string{"-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + n.ca.File,
		"-X", "ssl.certificate.location=" + alice.CertFile, "-X", "ssl.key.location=" + alice.KeyFile}
	kcat(t, ssl, "x\ny\n", append([]string{"-P", "-t", "mtls"}, args...)...)
	if recs := kcatConsume(t, ssl, "mtls", args...); len(recs) != 2 {
		t.Fatalf("kcat with a client certificate read %d records, want 2", len(recs))
	}
	_, errOut, err := runErr(30*time.Second, "", kcatProg.require(t), "-b", ssl, "-L", "-m", "5",
		"-X", "security.protocol=ssl", "-X", "ssl.ca.location="+n.ca.File)
	if err == nil {
		t.Fatal("kcat without a client certificate was served")
	}
	if !strings.Contains(errOut, "certificate required") {
		t.Errorf("kcat without a client certificate does not say why it failed:\n%s", errOut)
	}
	// A certificate of another CA is refused too.
	other := certs.NewCA(t, dir, "other").Client(t, dir, pkix.Name{CommonName: "mallory"})
	_, _, err = runErr(30*time.Second, "", kcatProg.require(t), "-b", ssl, "-L", "-m", "5",
		"-X", "security.protocol=ssl", "-X", "ssl.ca.location="+n.ca.File,
		"-X", "ssl.certificate.location="+other.CertFile, "-X", "ssl.key.location="+other.KeyFile)
	if err == nil {
		t.Fatal("kcat with a certificate of an untrusted CA was served")
	}
}

// TestTLSCertificateRotation replaces the certificate files under a
// running node: new connections get the new certificate, and connections
// opened before keep working on theirs.
func TestTLSCertificateRotation(t *testing.T) {
	n := startSecure(t, "SSL://127.0.0.1:0")
	ssl := n.addr(t, "SSL")
	serial := func() string {
		c, err := tls.Dial("tcp", ssl, &tls.Config{RootCAs: n.ca.Pool()})
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	cl := newClient(t, ssl, n.tlsOpt(), kgo.DefaultProduceTopic("rotate"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	connsBefore := handshakes(t, n)

	// Rotate as a deployment would: write the new pair aside, then rename
	// it over the served files.
	next := n.ca.Server(t, t.TempDir(), "server")
	if err := os.Rename(next.KeyFile, n.server.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next.CertFile, n.server.CertFile); err != nil {
		t.Fatal(err)
	}
	after := serial()
	if after == before {
		t.Fatalf("after rotation the listener still serves certificate %s", before)
	}
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "after-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("the client connected before the rotation: %v", err)
		}
	}
	// The client produced on the connections it had: it opened none.
	if got := handshakes(t, n); got != connsBefore+1 {
		t.Errorf("TLS connections opened: %d before the rotation, %d after it (one is the serial check); the client reconnected", connsBefore, got)
	}
	if n := consumeN(t, ssl, "rotate", 6, n.tlsOpt()); n != 6 {
		t.Fatalf("topic holds %d records, want 6", n)
	}
}

// handshakes counts the TLS handshakes the node's SSL listener completed.
func handshakes(t *testing.T, n *secureNode) int {
	t.Helper()
	return int(scrapeMetric(t, n.AdminAddr, "strata_kafka_tls_handshakes_total", "listener", "SSL"))
}

// runEnv is runErr with more environment variables.
func runEnv(timeout time.Duration, env []string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return o.String(), e.String(), err
}
