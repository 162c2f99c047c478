package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/stratalog/strata/client"
)

// issuer signs RS256 tokens and serves its key set over HTTP, as an
// identity provider's JWKS endpoint does.
type issuer struct {
	key     *rsa.PrivateKey
	signer  jose.Signer
	srv     *httptest.Server
	fetches atomic.Int64
}

const (
	testIssuer   = "https://issuer.strata.test"
	testAudience = "strata"
)

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, signer: signer}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// token is a signed token for sub, valid for ttl, with the given
// audience.
func (is *issuer) token(t *testing.T, sub, aud string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.Signed(is.signer).Claims(jwt.Claims{
		Subject: sub, Issuer: testIssuer, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(ttl)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestOAuthBearerJWKSOverHTTP: a node checks OAUTHBEARER tokens against a
// key set it fetches over HTTP, with its issuer and audience. The SDK
// (franz-go underneath) authenticates with signed tokens and refreshes
// them as their sessions end, producing throughout; confluent-kafka
// authenticates with a signed token from its token callback; a token for
// another audience and an expired one are refused, and the clients already
// in carry on.
func TestOAuthBearerJWKSOverHTTP(t *testing.T) {
	is := newIssuer(t)
	n := startSecure(t, "SASL_SSL://127.0.0.1:0", "-kafka.sasl.mechanisms", "OAUTHBEARER",
		"-kafka.sasl.oauthbearer.jwks-url", is.srv.URL,
		"-kafka.sasl.oauthbearer.issuer", testIssuer, "-kafka.sasl.oauthbearer.audience", testAudience,
		"-kafka.sasl.oauthbearer.clock-skew", "0s")
	secure := n.addr(t, "SASL_SSL")
	if is.fetches.Load() == 0 {
		t.Fatal("the node did not fetch the key set at start")
	}
	tlsCfg := &tls.Config{RootCAs: n.ca.Pool(), MinVersion: tls.VersionTLS12}

	t.Run("sdk-refresh", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var minted atomic.Int64
		c, err := client.New(ctx, client.WithBrokers(secure), client.WithTLS(tlsCfg),
			client.WithSASL(oauth.Oauth(func(context.Context) (oauth.Auth, error) {
				minted.Add(1)
				return oauth.Auth{Token: is.token(t, "sdk-svc", testAudience, 3*time.Second)}, nil
			})))
		if err != nil {
			t.Fatalf("client.New with OAUTHBEARER: %v", err)
		}
		defer c.Close()
		if _, err := c.Admin().CreateTopic(ctx, "oauth-jwks-sdk", 1, nil); err != nil {
			t.Fatal(err)
		}
		// Past several token lifetimes: each session ends with its token,
		// and the client must authenticate again with a new one.
		deadline := time.Now().Add(10 * time.Second)
		produced := 0
		for time.Now().Before(deadline) {
			if _, err := c.Produce(ctx, "oauth-jwks-sdk", nil, []byte("v")); err != nil {
				t.Fatalf("produce %d with refreshed tokens: %v", produced, err)
			}
			produced++
		}
		if got := minted.Load(); got < 3 {
			t.Fatalf("%d tokens over 10 s of 3 s tokens, want at least 3: the sessions were not renewed", got)
		}
		t.Logf("%d records produced with %d tokens", produced, minted.Load())
	})

	t.Run("confluent", func(t *testing.T) {
		out := runSecureClient(t, "confluent", secure, "oauth-jwks-confluent", "SECURITY_PROTOCOL=SASL_SSL", "CA_FILE="+n.ca.File,
			"SASL_MECHANISM=OAUTHBEARER", "OAUTH_TOKEN="+is.token(t, "py-svc", testAudience, time.Hour))
		if !strings.Contains(out, "consumed 3") {
			t.Fatalf("confluent-kafka: %s", out)
		}
	})

	t.Run("refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for name, tok := range map[string]string{
			"another audience": is.token(t, "x", "someone-else", time.Hour),
			"expired":          is.token(t, "x", testAudience, -time.Minute),
		} {
			cl, err := kgo.NewClient(kgo.SeedBrokers(secure), kgo.DialTLSConfig(tlsCfg), kgo.RequestRetries(0),
				kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
			if err != nil {
				t.Fatal(err)
			}
			err = cl.Ping(ctx)
			cl.Close()
			if err == nil {
				t.Errorf("%s token accepted", name)
			}
		}
		_, errOut, err := runSecureClientErr(t, "confluent", secure, "oauth-jwks-refused", "SECURITY_PROTOCOL=SASL_SSL", "CA_FILE="+n.ca.File,
			"SASL_MECHANISM=OAUTHBEARER", "OAUTH_TOKEN="+is.token(t, "py-svc", "someone-else", time.Hour))
		if err == nil {
			t.Error("confluent-kafka with a token for another audience succeeded")
		}
		t.Logf("confluent-kafka refused: %.300s", errOut)
	})
}
