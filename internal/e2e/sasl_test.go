package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// createUser creates user with password for both SCRAM mechanisms through
// AlterUserScramCredentials on addr (PLAIN checks passwords against the
// same credentials).
func createUser(t *testing.T, addr, user, password string, opts ...kgo.Opt) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr, opts...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: password},
		{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create user %s: %v", user, err)
	}
}

func saslMech(name, user, pass string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
}

// TestSASLSSLClients: franz-go, kcat, kafka-python and confluent-kafka
// authenticate over SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
// as a user created through AlterUserScramCredentials, and produce and
// consume.
func TestSASLSSLClients(t *testing.T) {
	n := startSecure(t, "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0")
	plainAddr, secure := n.addr(t, "PLAINTEXT"), n.addr(t, "SASL_SSL")
	createUser(t, plainAddr, "alice", "alice-s3cret")
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			topic := "sasl-" + strings.ToLower(mech)
			t.Run("franz-go", func(t *testing.T) {
				produceConsume(t, secure, topic+"-franz", n.tlsOpt(), kgo.SASL(saslMech(mech, "alice", "alice-s3cret")))
			})
			t.Run("kcat", func(t *testing.T) {
				args := []string{"-X", "security.protocol=sasl_ssl", "-X", "ssl.ca.location=" + n.ca.File,
					"-X", "sasl.mechanisms=" + mech, "-X", "sasl.username=alice", "-X", "sasl.password=alice-s3cret"}
				kcat(t, secure, "a\nb\nc\n", append([]string{"-P", "-t", topic + "-kcat"}, args...)...)
				if recs := kcatConsume(t, secure, topic+"-kcat", args...); len(recs) != 3 {
					t.Fatalf("kcat read %d records, want 3", len(recs))
				}
			})
			for _, lib := range []string{"kafka-python", "confluent"} {
				t.Run(lib, func(t *testing.T) {
					out := runSecureClient(t, lib, secure, topic+"-"+lib, "SECURITY_PROTOCOL=SASL_SSL", "CA_FILE="+n.ca.File,
						"SASL_MECHANISM="+mech, "SASL_USER=alice", "SASL_PASSWORD=alice-s3cret")
					if !strings.Contains(out, "consumed 3") {
						t.Fatalf("%s: %s", lib, out)
					}
				})
			}
		})
	}
}

// TestSASLSSLRejects: a wrong password and an unknown user fail clearly
// in each client, while an authenticated client on the same node carries
// on.
func TestSASLSSLRejects(t *testing.T) {
	n := startSecure(t, "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0")
	plainAddr, secure := n.addr(t, "PLAINTEXT"), n.addr(t, "SASL_SSL")
	createUser(t, plainAddr, "alice", "alice-s3cret")
	good := newClient(t, secure, n.tlsOpt(), kgo.SASL(saslMech("SCRAM-SHA-512", "alice", "alice-s3cret")),
		kgo.DefaultProduceTopic("rejects"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	produce := func(what string) {
		t.Helper()
		if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte(what)}).FirstErr(); err != nil {
			t.Fatalf("the authenticated client, %s: %v", what, err)
		}
	}
	produce("before")
	for _, c := range []struct{ name, user, pass string }{{"wrong-password", "alice", "guess"}, {"unknown-user", "mallory", "guess"}} {
		t.Run(c.name, func(t *testing.T) {
			for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
				cl := newClient(t, secure, n.tlsOpt(), kgo.SASL(saslMech(mech, c.user, c.pass)), kgo.RequestRetries(0))
				rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
				rcancel()
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Errorf("franz-go %s: %v, want SASL_AUTHENTICATION_FAILED", mech, err)
				}
			}
			_, errOut, err := runErr(time.Minute, "", kcatProg.require(t), "-b", secure, "-L", "-m", "10",
				"-X", "security.protocol=sasl_ssl", "-X", "ssl.ca.location="+n.ca.File,
				"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username="+c.user, "-X", "sasl.password="+c.pass)
			if err == nil || !strings.Contains(strings.ToLower(errOut), "authentication failed") {
				t.Errorf("kcat: err %v, stderr does not say the authentication failed:\n%s", err, errOut)
			}
			for _, lib := range []string{"kafka-python", "confluent"} {
				_, errOut, err := runSecureClientErr(t, lib, secure, "rejects-"+lib, "SECURITY_PROTOCOL=SASL_SSL", "CA_FILE="+n.ca.File,
					"SASL_MECHANISM=SCRAM-SHA-256", "SASL_USER="+c.user, "SASL_PASSWORD="+c.pass)
				// kafka-python 2.0 authenticates SCRAM with the v0
				// framing, where a failure is a closed connection: its
				// log says it was authenticating.
				if err == nil || !strings.Contains(strings.ToLower(errOut), "authenticat") {
					t.Errorf("%s: err %v, stderr does not say the authentication failed:\n%s", lib, err, errOut)
				}
			}
			produce("after " + c.name)
		})
	}
}

// TestOAuthBearerClients: with unsecured tokens enabled (development
// mode), kcat and confluent-kafka authenticate over SASL_SSL with
// librdkafka's own OAUTHBEARER tokens, and franz-go with a token it makes.
func TestOAuthBearerClients(t *testing.T) {
	n := startSecure(t, "SASL_SSL://127.0.0.1:0", "-kafka.sasl.mechanisms", "OAUTHBEARER", "-kafka.sasl.oauthbearer.unsecured")
	secure := n.addr(t, "SASL_SSL")
	t.Run("kcat", func(t *testing.T) {
		args := []string{"-X", "security.protocol=sasl_ssl", "-X", "ssl.ca.location=" + n.ca.File,
			"-X", "sasl.mechanisms=OAUTHBEARER", "-X", "enable.sasl.oauthbearer.unsecure.jwt=true",
			"-X", "sasl.oauthbearer.config=principal=alice"}
		kcat(t, secure, "a\nb\n", append([]string{"-P", "-t", "oauth-kcat"}, args...)...)
		if recs := kcatConsume(t, secure, "oauth-kcat", args...); len(recs) != 2 {
			t.Fatalf("kcat read %d records, want 2", len(recs))
		}
	})
	t.Run("confluent", func(t *testing.T) {
		out := runSecureClient(t, "confluent", secure, "oauth-confluent", "SECURITY_PROTOCOL=SASL_SSL", "CA_FILE="+n.ca.File,
			"SASL_MECHANISM=OAUTHBEARER", "SASL_USER=alice")
		if !strings.Contains(out, "consumed 3") {
			t.Fatalf("confluent-kafka: %s", out)
		}
	})
	t.Run("franz-go", func(t *testing.T) {
		enc := base64.RawURLEncoding.EncodeToString
		tok := enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"sub":"alice","exp":%d}`, time.Now().Add(time.Hour).Unix())) + "."
		produceConsume(t, secure, "oauth-franz", n.tlsOpt(), kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
	})
}
