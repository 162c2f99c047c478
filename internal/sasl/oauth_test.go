package sasl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
	pub  any
}

func rsaKey(t *testing.T, kid string) signingKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid, jose.RS256, k, &k.PublicKey}
}

func ecKey(t *testing.T, kid string) signingKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid, jose.ES256, k, &k.PublicKey}
}

func jwks(t *testing.T, keys ...signingKey) []byte {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t *testing.T, k signingKey, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader("kid", k.kid)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func unsecured(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func clientResponse(authzid, token string) []byte {
	a := ""
	if authzid != "" {
		a = "a=" + authzid
	}
	return []byte("n," + a + ",\x01auth=Bearer " + token + "\x01\x01")
}

func oauthServer(t *testing.T, mutate func(*OAuthConfig)) *Server {
	t.Helper()
	cfg := Config{}
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	cfg.Mechanisms = []string{OAuthBearer}
	mutate(&cfg.OAuthBearer)
	s, err := NewServer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authenticate runs an OAUTHBEARER exchange as Kafka's client does: on an
// error status it sends 0x01 and expects the failure.
func authenticate(t *testing.T, s *Server, msg []byte) (Exchange, error) {
	t.Helper()
	ex, err := s.Start(OAuthBearer)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reply, done, err := ex.Next(ctx, msg)
	if err != nil {
		return ex, err
	}
	if done {
		if len(reply) != 0 {
			t.Fatalf("reply %q on success", reply)
		}
		return ex, nil
	}
	if string(reply) != `{"status":"invalid_token"}` {
		t.Fatalf("challenge %q", reply)
	}
	_, done, err = ex.Next(ctx, []byte{1})
	if done || err == nil {
		t.Fatal("exchange did not fail after the error status")
	}
	return ex, err
}

func TestOAuthBearer(t *testing.T) {
	dir := t.TempDir()
	k1, k2, other := rsaKey(t, "k1"), ecKey(t, "k2"), rsaKey(t, "k1")
	file := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(file, jwks(t, k1, k2), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := oauthServer(t, func(o *OAuthConfig) {
		o.JWKSFile = file
		o.Issuer = "https://idp.example"
		o.Audience = []string{"strata", "kafka"}
	})
	good := func() map[string]any {
		return map[string]any{
			"iss": "https://idp.example", "aud": []string{"kafka"}, "sub": "svc-orders",
			"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(),
		}
	}
	with := func(k string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}

	for _, k := range []signingKey{k1, k2} {
		ex, err := authenticate(t, s, clientResponse("", sign(t, k, good())))
		if err != nil {
			t.Fatalf("%s: %v", k.alg, err)
		}
		if ex.Principal() != "User:svc-orders" {
			t.Fatalf("principal %q", ex.Principal())
		}
		if got := ex.Expiry().Unix(); got != now.Add(time.Hour).Unix() {
			t.Fatalf("expiry %d", got)
		}
	}
	if _, err := authenticate(t, s, clientResponse("svc-orders", sign(t, k1, good()))); err != nil {
		t.Fatalf("matching authzid: %v", err)
	}

	for name, tc := range map[string]struct {
		msg []byte
	}{
		"other key same kid": {clientResponse("", sign(t, other, good()))},
		"wrong issuer":       {clientResponse("", sign(t, k1, with("iss", "https://evil.example")))},
		"wrong audience":     {clientResponse("", sign(t, k1, with("aud", "other")))},
		"no audience":        {clientResponse("", sign(t, k1, with("aud", nil)))},
		"expired":            {clientResponse("", sign(t, k1, with("exp", now.Add(-time.Hour).Unix())))},
		"no exp":             {clientResponse("", sign(t, k1, with("exp", nil)))},
		"not yet valid":      {clientResponse("", sign(t, k1, with("nbf", now.Add(time.Hour).Unix())))},
		"no sub":             {clientResponse("", sign(t, k1, with("sub", nil)))},
		"numeric sub":        {clientResponse("", sign(t, k1, with("sub", 7)))},
		"other authzid":      {clientResponse("admin", sign(t, k1, good()))},
		"unsecured":          {clientResponse("", unsecured(good()))},
		"garbage token":      {clientResponse("", "abc.def.ghi")},
	} {
		t.Run(name, func(t *testing.T) {
			ex, err := authenticate(t, s, tc.msg)
			if ex.Principal() != "" {
				t.Fatal("authenticated")
			}
			checkFailure(t, err, "svc-orders", "eyJ")
		})
	}
	// A malformed client response fails at once, without a status.
	for _, msg := range []string{"", "y,,\x01auth=Bearer x\x01\x01", "n,,\x01auth=x\x01\x01", "n,,\x01\x01", "n,,auth=Bearer x\x01\x01"} {
		ex, _ := s.Start(OAuthBearer)
		reply, done, err := ex.Next(context.Background(), []byte(msg))
		if done || err == nil || reply != nil {
			t.Errorf("%q: reply %q done %v err %v", msg, reply, done, err)
		}
	}
}

func TestOAuthBearerPrincipalClaim(t *testing.T) {
	k := rsaKey(t, "")
	file := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(file, jwks(t, k), 0o600)
	s := oauthServer(t, func(o *OAuthConfig) { o.JWKSFile = file; o.PrincipalClaim = "client_id" })
	ex, err := authenticate(t, s, clientResponse("", sign(t, k, map[string]any{"sub": "x", "client_id": "billing", "exp": time.Now().Add(time.Minute).Unix()})))
	if err != nil || ex.Principal() != "User:billing" {
		t.Fatalf("principal %q err %v", ex.Principal(), err)
	}
}

func TestOAuthBearerUnsecured(t *testing.T) {
	s := oauthServer(t, func(o *OAuthConfig) { o.Unsecured = true })
	ex, err := authenticate(t, s, clientResponse("", unsecured(map[string]any{"sub": "dev", "exp": time.Now().Add(time.Minute).Unix()})))
	if err != nil || ex.Principal() != "User:dev" {
		t.Fatalf("principal %q err %v", ex.Principal(), err)
	}
	if _, err := authenticate(t, s, clientResponse("", unsecured(map[string]any{"sub": "dev", "exp": time.Now().Add(-time.Hour).Unix()}))); err == nil {
		t.Fatal("expired unsecured token accepted")
	}
	if _, err := authenticate(t, s, clientResponse("", unsecured(map[string]any{"sub": "dev"}))); err == nil {
		t.Fatal("unsecured token without exp accepted")
	}
	// Unsecured mode does not make signed tokens pass unchecked.
	if _, err := authenticate(t, s, clientResponse("", sign(t, rsaKey(t, "x"), map[string]any{"sub": "dev", "exp": time.Now().Add(time.Minute).Unix()}))); err == nil {
		t.Fatal("signed token accepted without a JWKS")
	}
}

func TestOAuthBearerJWKSURLRotation(t *testing.T) {
	old, rotated := rsaKey(t, "old"), rsaKey(t, "new")
	var mu sync.Mutex
	set := jwks(t, old)
	gets := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gets++
		w.Write(set)
	}))
	defer srv.Close()
	s := oauthServer(t, func(o *OAuthConfig) { o.JWKSURL = srv.URL })
	clock := time.Now()
	s.keys.now = func() time.Time { return clock }
	claims := map[string]any{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}
	if _, err := authenticate(t, s, clientResponse("", sign(t, old, claims))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	set = jwks(t, old, rotated)
	mu.Unlock()
	// A token with an unknown kid makes the server read the set again,
	// but not more often than every minRefetch.
	clock = clock.Add(minRefetch)
	if _, err := authenticate(t, s, clientResponse("", sign(t, rotated, claims))); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if _, err := authenticate(t, s, clientResponse("", sign(t, rsaKey(t, "unknown"), claims))); err == nil {
		t.Fatal("unknown key accepted")
	}
	mu.Lock()
	if gets != 2 {
		t.Fatalf("JWKS read %d times, want 2", gets)
	}
	// When the set cannot be read, the previous one stays in use.
	set = []byte("not json")
	mu.Unlock()
	clock = clock.Add(2 * time.Hour)
	if _, err := authenticate(t, s, clientResponse("", sign(t, rotated, claims))); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gets != 3 {
		t.Fatalf("JWKS read %d times, want 3", gets)
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		c := Config{}
		c.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
		return c
	}
	c := base()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.OAuthBearer.Unsecured {
		t.Fatal("unsecured tokens on by default")
	}
	for name, mut := range map[string]func(*Config){
		"unknown mechanism":  func(c *Config) { c.Mechanisms = []string{"GSSAPI"} },
		"duplicate":          func(c *Config) { c.Mechanisms = []string{Plain, Plain} },
		"oauth without keys": func(c *Config) { c.Mechanisms = []string{OAuthBearer} },
		"file and url": func(c *Config) {
			c.OAuthBearer.JWKSFile, c.OAuthBearer.JWKSURL = "f", "https://x"
		},
		"empty claim": func(c *Config) { c.OAuthBearer.PrincipalClaim = "" },
		"bad url":     func(c *Config) { c.OAuthBearer.JWKSURL = "ftp://x" },
	} {
		c := base()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c = Config{}
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-kafka.sasl.mechanisms=SCRAM-SHA-512, OAUTHBEARER", "-kafka.sasl.oauthbearer.unsecured", "-kafka.sasl.oauthbearer.audience=a,b"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Mechanisms, "|") != "SCRAM-SHA-512|OAUTHBEARER" || strings.Join(c.OAuthBearer.Audience, "|") != "a|b" {
		t.Fatalf("parsed %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(Config{Mechanisms: []string{Plain}, OAuthBearer: OAuthConfig{PrincipalClaim: "sub"}}, nil, nil); err == nil {
		t.Fatal("PLAIN without a credential store accepted")
	}
	_ = errors.New
}
