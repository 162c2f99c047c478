package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/batchtest"
)

// TestACLChangeReachesEveryNode: an ACL created through node A is
// enforced by node B within a second, and so is its deletion. Until
// SASL lands every connection is User:ANONYMOUS; with
// -auth.allow-everyone-if-no-acl-found=false it may do only what its
// ACLs allow.
func TestACLChangeReachesEveryNode(t *testing.T) {
	data := newServeData(t)
	args := []string{"-auth.allow-everyone-if-no-acl-found=false", "-cluster.refresh-interval", "100ms"}
	a := startStrata(t, modeServe, strataOpts{Shared: data, InProcess: true, Args: append([]string{"-kafka.node-id", "1"}, args...)})
	b := startStrata(t, modeServe, strataOpts{Shared: data, InProcess: true, Args: append([]string{"-kafka.node-id", "2"}, args...)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The first ACLs come from the metastore, as an operator's first
	// `strata acls create` against it would: the anonymous principal may
	// manage ACLs and topics.
	const anonymous = "User:ANONYMOUS"
	bootstrap := []acl.Binding{
		{ResourceType: acl.ResourceCluster, ResourceName: acl.ClusterName, PatternType: acl.PatternLiteral, Principal: anonymous, Host: "*", Operation: acl.OpAlter, Permission: acl.PermissionAllow},
		{ResourceType: acl.ResourceCluster, ResourceName: acl.ClusterName, PatternType: acl.PatternLiteral, Principal: anonymous, Host: "*", Operation: acl.OpCreate, Permission: acl.PermissionAllow},
		{ResourceType: acl.ResourceTopic, ResourceName: "*", PatternType: acl.PatternLiteral, Principal: anonymous, Host: "*", Operation: acl.OpDescribe, Permission: acl.PermissionAllow},
	}
	if err := a.node.App.Store().CreateACLs(ctx, bootstrap); err != nil {
		t.Fatal(err)
	}
	admA := kadm.NewClient(newClient(t, a.KafkaAddr))
	var topicID [16]byte
	waitFor(t, 10*time.Second, "node A to read the first ACLs", func() bool {
		resp, err := admA.CreateTopic(ctx, 1, -1, nil, "orders")
		topicID = resp.ID
		return err == nil && resp.Err == nil
	})

	// Produce straight to node B, whatever the partition's leader: any
	// node appends to any partition.
	clB := newClient(t, b.KafkaAddr)
	produceOnB := func() int16 {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "orders", topicID // v13 names it by id
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batchtest.Values(batchtest.NoProducer, "x")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := clB.SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produceOnB(); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("produce on B without Write: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	if !strings.Contains(b.node.Log(), "component=audit") || !strings.Contains(b.node.Log(), "resource=orders") {
		t.Errorf("node B's audit log has no denial of orders")
	}

	write := kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow(anonymous).AllowHosts().Operations(kadm.OpWrite)
	res, err := admA.CreateACLs(ctx, write)
	if err != nil || res[0].Err != nil {
		t.Fatalf("create the ACL through A: %v %v", err, res)
	}
	created := time.Now()
	waitFor(t, time.Second, "node B to enforce the ACL created through A", func() bool { return produceOnB() == 0 })
	t.Logf("node B enforced the new ACL %s after A created it", time.Since(created).Round(time.Millisecond))

	del, err := admA.DeleteACLs(ctx, write)
	if err != nil || del[0].Err != nil || len(del[0].Deleted) != 1 {
		t.Fatalf("delete the ACL through A: %v %+v", err, del)
	}
	deleted := time.Now()
	waitFor(t, time.Second, "node B to enforce the deletion made through A", func() bool {
		return produceOnB() == kerr.TopicAuthorizationFailed.Code
	})
	t.Logf("node B enforced the deletion %s after A made it", time.Since(deleted).Round(time.Millisecond))
}
