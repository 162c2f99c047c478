package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/client"
)

// TestSDKOverSASLSSL: the SDK's WithTLS and WithSASL reach a SASL_SSL
// listener: it creates a topic, produces, and a group consumer (whose
// coordinator it finds through the same listener) reads everything back.
// A wrong password fails client.New with the server's reason.
func TestSDKOverSASLSSL(t *testing.T) {
	n := startSecure(t, "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0", fastGroups...)
	secure := n.addr(t, "SASL_SSL")
	createUser(t, n.addr(t, "PLAINTEXT"), "sdk-user", "sdk-pass")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tlsCfg := &tls.Config{RootCAs: n.ca.Pool(), MinVersion: tls.VersionTLS12}
	c, err := client.New(ctx, client.WithBrokers(secure), client.WithTLS(tlsCfg),
		client.WithSASL(scram.Auth{User: "sdk-user", Pass: "sdk-pass"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatalf("client.New over SASL_SSL: %v", err)
	}
	defer c.Close()
	const topic, total = "sdk-secure", 20
	if _, err := c.Admin().CreateTopic(ctx, topic, 2, nil); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	for i := range total {
		if _, err := c.Produce(ctx, topic, nil, fmt.Appendf(nil, "r%d", i)); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cs, err := client.NewConsumer(ctx, c, "sdk-secure-group", []string{topic}, client.Bytes{}, client.String{})
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	err = cs.Run(ctx, func(_ context.Context, m client.Message[[]byte, string]) error {
		mu.Lock()
		defer mu.Unlock()
		seen[m.Value] = true
		if len(seen) == total {
			return client.ErrStop
		}
		return nil
	})
	if err != nil || len(seen) != total {
		t.Fatalf("consumer over SASL_SSL read %d of %d records: %v", len(seen), total, err)
	}

	_, err = client.New(ctx, client.WithBrokers(secure), client.WithTLS(tlsCfg),
		client.WithSASL(scram.Auth{User: "sdk-user", Pass: "wrong"}.AsSha512Mechanism()))
	if err == nil || !strings.Contains(err.Error(), "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("client.New with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}
