package kafka

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/stratalog/strata/internal/sasl"
)

// unsecuredToken is Kafka's unsecured JWT (alg none) for sub, expiring at
// exp.
func unsecuredToken(sub string, exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"sub":%q,"exp":%d}`, sub, exp.Unix())) + "."
}

// TestSASLOAuthBearerTokenRefresh: franz-go authenticates with
// OAUTHBEARER; the session lasts until the token expires, and franz-go,
// told so in SaslAuthenticate, re-authenticates with a fresh token on the
// same connection and produces throughout.
func TestSASLOAuthBearerTokenRefresh(t *testing.T) {
	ts := startSASLServer(t, func(c *Config) {
		c.SASL.Mechanisms = []string{sasl.OAuthBearer}
		c.SASL.OAuthBearer.Unsecured = true
	})
	cl, _ := ts.clients(t, kgo.SASL(oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		return oauth.Auth{Token: unsecuredToken("svc", time.Now().Add(2*time.Second))}, nil
	})), kgo.DefaultProduceTopic("oauth"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("o")}).FirstErr(); err != nil {
			t.Fatalf("produce %d with OAUTHBEARER: %v", n, err)
		}
	}
	if got := ts.authCount(sasl.OAuthBearer, "ok"); got < 3 {
		t.Errorf("OAUTHBEARER authentications %v over 5s of 2s tokens, want at least 3", got)
	}

	// An expired token is refused.
	bad, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.RequestRetries(0), kgo.SASL(oauth.Auth{
		Token: unsecuredToken("svc", time.Now().Add(-time.Hour)),
	}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Ping(ctx); err == nil {
		t.Error("an expired token was accepted")
	}
}
