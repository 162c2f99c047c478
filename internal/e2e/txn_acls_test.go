package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/acl"
)

// TestTxnACLs: a transactional producer needs Write on its transactional
// id, as in Kafka (docs/authorization.md): with it and Write on the topic
// it commits; without it its transactions fail with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, and DescribeTransactions of the
// id is refused the same way.
func TestTxnACLs(t *testing.T) {
	n := startStrata(t, modeDev, strataOpts{InProcess: true, Args: []string{"-auth.allow-everyone-if-no-acl-found=false"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := n.node.App.Store()
	if _, err := store.CreateTopic(ctx, "orders", 1, nil); err != nil {
		t.Fatal(err)
	}
	allow := func(rt acl.ResourceType, name string, op acl.Operation) acl.Binding {
		return acl.Binding{ResourceType: rt, ResourceName: name, PatternType: acl.PatternLiteral, Principal: "User:ANONYMOUS",
			Host: "*", Operation: op, Permission: acl.PermissionAllow}
	}
	if err := store.CreateACLs(ctx, []acl.Binding{
		allow(acl.ResourceTopic, "orders", acl.OpWrite),
		allow(acl.ResourceTransactionalID, "app-ok", acl.OpWrite),
	}); err != nil {
		t.Fatal(err)
	}
	ok := txnProducer(t, n.KafkaAddr, "app-ok")
	waitFor(t, 10*time.Second, "a transaction with Write on the id and the topic", func() bool {
		if err := ok.BeginTransaction(); err != nil {
			return false
		}
		if err := ok.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("v")}).FirstErr(); err != nil {
			_ = ok.EndTransaction(ctx, kgo.TryAbort)
			return false
		}
		return ok.EndTransaction(ctx, kgo.TryCommit) == nil
	})

	denied := txnProducer(t, n.KafkaAddr, "app-denied")
	err := denied.BeginTransaction()
	if err == nil {
		err = denied.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
	}
	if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("a transaction without Write on the id: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
	d, err := kadm.NewClient(newClient(t, n.KafkaAddr)).DescribeTransactions(ctx, "app-denied")
	// kadm asks for the id's coordinator first, which is refused already.
	if err == nil {
		err = d["app-denied"].Err
	}
	if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("DescribeTransactions without Describe on the id: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
}
