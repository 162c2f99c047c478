package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
	// kadm sends CreateACLs to any node: wait for B to have the first
	// ACLs too.
	waitFor(t, 10*time.Second, "node B to read the first ACLs", func() bool {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		resp, err := clB.SeedBrokers()[0].Request(ctx, req)
		return err == nil && resp.(*kmsg.DescribeACLsResponse).ErrorCode == 0
	})
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

// TestRealClientsWithTheACLsTheyNeed: franz-go's idempotent producer and
// group consumer work with exactly the ACLs docs/authorization.md lists
// for them (Write on the topic; Read on the topic and the group), and a
// producer to a topic it may not write gets TOPIC_AUTHORIZATION_FAILED.
func TestRealClientsWithTheACLsTheyNeed(t *testing.T) {
	n := startStrata(t, modeDev, strataOpts{InProcess: true, Args: []string{"-auth.allow-everyone-if-no-acl-found=false"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := n.node.App.Store()
	for _, name := range []string{"orders", "payroll"} {
		if _, err := store.CreateTopic(ctx, name, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	allow := func(rt acl.ResourceType, name string, op acl.Operation) acl.Binding {
		return acl.Binding{ResourceType: rt, ResourceName: name, PatternType: acl.PatternLiteral, Principal: "User:ANONYMOUS",
			Host: "*", Operation: op, Permission: acl.PermissionAllow}
	}
	if err := store.CreateACLs(ctx, []acl.Binding{
		allow(acl.ResourceTopic, "orders", acl.OpWrite),
		allow(acl.ResourceTopic, "orders", acl.OpRead),
		allow(acl.ResourceGroup, "billing", acl.OpRead),
	}); err != nil {
		t.Fatal(err)
	}
	// The node reads them within its refresh interval.
	producer := newClient(t, n.KafkaAddr)
	var results kgo.ProduceResults
	waitFor(t, 5*time.Second, "an idempotent produce with Write on the topic", func() bool {
		results = producer.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("one")}, &kgo.Record{Topic: "orders", Value: []byte("two")})
		return results.FirstErr() == nil
	})
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if err := producer.ProduceSync(pctx, &kgo.Record{Topic: "payroll", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("produce to payroll without Write: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	consumer := newClient(t, n.KafkaAddr, kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("billing"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 2 {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 2 records: %v", got, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit with Read on the group and the topic: %v", err)
	}
	offs, err := kadm.NewClient(newClient(t, n.KafkaAddr)).FetchOffsets(ctx, "billing")
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if err != nil || offs.Error() != nil || sum != 2 {
		t.Fatalf("billing's committed offsets: %v %v (sum %d), want 2 records' worth", err, offs.Error(), sum)
	}
}

// TestKafkaPythonACLs: kafka-python's create_acls, describe_acls (a MATCH
// filter) and delete_acls against strata.
func TestKafkaPythonACLs(t *testing.T) {
	python := pythonProg.require(t)
	n := startStrata(t, modeDev, strataOpts{InProcess: true})
	out := run(t, time.Minute, "", python, filepath.Join("testdata", "acls.py"), n.KafkaAddr, "orders-eu")
	want := strings.Join([]string{
		"created 2 failed 0",
		"describe error NoError",
		"acl orders-eu LITERAL READ",
		"acl ord PREFIXED WRITE",
		"deleted 2 error NoError",
	}, "\n")
	if strings.TrimSpace(out) != want {
		t.Errorf("acls.py printed:\n%s\nwant:\n%s", out, want)
	}
	bs, _, err := n.node.App.Store().ListACLs(context.Background())
	if err != nil || len(bs) != 0 {
		t.Errorf("ACLs left after delete_acls: %v %v", bs, err)
	}
}
