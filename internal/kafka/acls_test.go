package kafka

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/batchtest"
)

// TestACLAPIsWithKadm creates, describes and deletes ACLs with franz-go's
// admin client, as kafka-acls and kadm users do; what it creates is
// enforced at once and what it deletes no longer is.
func TestACLAPIsWithKadm(t *testing.T) {
	s, audit := startACLServer(t)
	// kadm's connections are not authenticated.
	grant(t, s, anonymousPrincipal, acl.ResourceCluster, acl.ClusterName, acl.OpAlter, acl.OpCreate)
	grant(t, s, anonymousPrincipal, acl.ResourceTopic, "*", acl.OpDescribe)
	ctx := testContext(t)
	_, adm := s.clients(t)
	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		for _, key := range []kmsg.Key{kmsg.DescribeACLs, kmsg.CreateACLs, kmsg.DeleteACLs} {
			if lo, hi, ok := v.KeyVersions(key.Int16()); !ok || lo != 0 || hi != 3 {
				t.Errorf("%s advertised %v at %d-%d, want 0-3", key.Name(), ok, lo, hi)
			}
		}
	}

	created, err := adm.CreateACLs(ctx, kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow("User:bob").AllowHosts().Operations(kadm.OpRead, kadm.OpWrite))
	if err != nil {
		t.Fatal(err)
	}
	prefixed, err := adm.CreateACLs(ctx, kadm.NewACLs().Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Allow("User:bob").AllowHosts().Operations(kadm.OpRead))
	if err != nil {
		t.Fatal(err)
	}
	denied, err := adm.CreateACLs(ctx, kadm.NewACLs().Groups("payroll").ResourcePatternType(kadm.ACLPatternLiteral).
		Deny("User:*").DenyHosts().Operations(kadm.OpAll))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range slices.Concat(created, prefixed, denied) {
		if r.Err != nil {
			t.Fatalf("create %s %s: %v", r.Name, r.Operation, r.Err)
		}
	}
	if got := len(created) + len(prefixed) + len(denied); got != 4 {
		t.Fatalf("%d creation results, want 4", got)
	}
	if n := len(audit.lines("msg=\"acl created\"", "principal="+anonymousPrincipal, "acl_principal=User:bob")); n != 3 {
		t.Errorf("%d ACL creations by User:ANONYMOUS for User:bob in the audit log, want 3:\n%s", n, audit)
	}
	bob := s.dialAs(t, "User:bob")
	md := bob.roundTrip(metadataRequest(false, "logs-app", "other"), 12).(*kmsg.MetadataResponse)
	if md.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code || md.Topics[1].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("bob's Metadata for logs-app and other: %v, %v; want the first described (unknown), the second denied",
			kerr.ErrorForCode(md.Topics[0].ErrorCode), kerr.ErrorForCode(md.Topics[1].ErrorCode))
	}

	// MATCH finds the ACLs that apply to a name: the prefixed one.
	described, err := adm.DescribeACLs(ctx, kadm.NewACLs().Topics("logs-app").ResourcePatternType(kadm.ACLPatternMatch).
		Allow("User:bob").AllowHosts().Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range described {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		for _, d := range r.Described {
			names = append(names, d.Name+"/"+d.Pattern.String()+"/"+d.Operation.String())
		}
	}
	if !slices.Equal(names, []string{"logs-/PREFIXED/READ"}) {
		t.Errorf("MATCH logs-app for User:bob: %v, want the prefixed logs- READ", names)
	}
	// ANY with a name: the ACLs named exactly so, of either pattern.
	described, err = adm.DescribeACLs(ctx, kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternAny).
		Allow().AllowHosts().Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	names = names[:0]
	for _, r := range described {
		for _, d := range r.Described {
			names = append(names, d.Principal+"/"+d.Operation.String())
		}
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"User:bob/READ", "User:bob/WRITE"}) {
		t.Errorf("ANY orders: %v", names)
	}

	deleted, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternLiteral).
		Allow("User:bob").AllowHosts().Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range deleted {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		n += len(r.Deleted)
	}
	if n != 2 {
		t.Errorf("deleted %d ACLs, want the 2 on orders", n)
	}
	if got := len(audit.lines("msg=\"acl deleted\"", "resource=orders")); got != 2 {
		t.Errorf("%d deletions of orders ACLs in the audit log, want 2", got)
	}
	bs, _, err := s.store.ListACLs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.ResourceName == "orders" {
			t.Errorf("still stored after DeleteAcls: %v", b)
		}
	}
}

// TestCreateACLsPerCreation: an invalid creation is INVALID_REQUEST on
// its own; the valid ones of the same request are stored.
func TestCreateACLsPerCreation(t *testing.T) {
	s, _ := startACLServer(t)
	c := s.dialAs(t, admin)
	req := kmsg.NewPtrCreateACLsRequest()
	for _, principal := range []string{"User:bob", "bob", "User:carol"} {
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = principal, "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
		req.Creations = append(req.Creations, cr)
	}
	cl := kmsg.NewCreateACLsRequestCreation() // the cluster has one name
	cl.ResourceType, cl.ResourceName, cl.ResourcePatternType = kmsg.ACLResourceTypeCluster, "other", kmsg.ACLResourcePatternTypeLiteral
	cl.Principal, cl.Host, cl.Operation, cl.PermissionType = "User:bob", "*", kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow
	req.Creations = append(req.Creations, cl)
	resp := c.roundTrip(req, 3).(*kmsg.CreateACLsResponse)
	var codes []int16
	for _, r := range resp.Results {
		codes = append(codes, r.ErrorCode)
	}
	inv := kerr.InvalidRequest.Code
	if !slices.Equal(codes, []int16{0, inv, 0, inv}) {
		t.Fatalf("codes %v, want [0 %d 0 %d]", codes, inv, inv)
	}
	bs, _, err := s.store.ListACLs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Principal != "User:bob" || bs[1].Principal != "User:carol" {
		t.Errorf("stored %v, want the ACLs of bob and carol", bs)
	}
}

// TestMetadataListsWhatThePrincipalMayDescribe: Metadata for every topic
// lists the topics the principal may Describe, and the authorized
// operations (KIP-430) are the principal's.
func TestMetadataListsWhatThePrincipalMayDescribe(t *testing.T) {
	s, audit := startACLServer(t)
	for _, name := range []string{"a", "b", "c"} {
		mustCreateTopic(t, s, name, 1)
	}
	grant(t, s, alice, acl.ResourceTopic, "a", acl.OpDescribe)
	grant(t, s, alice, acl.ResourceTopic, "b", acl.OpRead)
	grant(t, s, alice, acl.ResourceCluster, acl.ClusterName, acl.OpIdempotentWrite)
	c := s.dialAs(t, alice)
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = nil // every topic
	req.IncludeClusterAuthorizedOperations = true
	req.IncludeTopicAuthorizedOperations = true
	resp := c.roundTrip(req, 10).(*kmsg.MetadataResponse)
	got := map[string]int32{}
	for _, mt := range resp.Topics {
		got[*mt.Topic] = mt.AuthorizedOperations
	}
	want := map[string]int32{"a": 1 << acl.OpDescribe, "b": 1<<acl.OpRead | 1<<acl.OpDescribe}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Errorf("topics and their authorized operations %v, want %v", got, want)
	}
	if resp.AuthorizedOperations != 1<<acl.OpIdempotentWrite {
		t.Errorf("cluster authorized operations %b, want IdempotentWrite only", resp.AuthorizedOperations)
	}
	grant(t, s, alice, acl.ResourceCluster, acl.ClusterName, acl.OpDescribe)
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	if got := c.roundTrip(dc, 1).(*kmsg.DescribeClusterResponse); got.ErrorCode != 0 || got.ClusterAuthorizedOperations != 1<<acl.OpIdempotentWrite|1<<acl.OpDescribe {
		t.Errorf("DescribeCluster: %v, authorized operations %b; want Describe and IdempotentWrite", kerr.ErrorForCode(got.ErrorCode), got.ClusterAuthorizedOperations)
	}
	if lines := audit.lines("msg=denied", "resource=c"); len(lines) != 0 {
		t.Errorf("filtering a topic out of a listing is not a denial to log: %v", lines)
	}
	// Without an authenticating listener and without ACLs, as before.
	open := startServer(t)
	resp = open.dial(t).roundTrip(req, 10).(*kmsg.MetadataResponse)
	if resp.AuthorizedOperations != 1<<acl.OpCreate|1<<acl.OpClusterAction|1<<acl.OpDescribeConfigs|1<<acl.OpAlterConfigs|1<<acl.OpIdempotentWrite|1<<acl.OpAlter|1<<acl.OpDescribe {
		t.Errorf("cluster authorized operations without ACLs %b, want every cluster operation", resp.AuthorizedOperations)
	}
}

// TestPartialDenial: a request whose principal may write one topic and
// not the other writes the one and answers the other
// TOPIC_AUTHORIZATION_FAILED; ListGroups and DescribeGroups show only
// the groups the principal may describe.
func TestPartialDenial(t *testing.T) {
	s, _ := startACLServer(t)
	ctx := context.Background()
	mustCreateTopic(t, s, "mine", 1)
	mustCreateTopic(t, s, "theirs", 1)
	grant(t, s, alice, acl.ResourceTopic, "mine", acl.OpWrite)
	c := s.dialAs(t, alice)
	batch := batchtest.Values(noProducer(1), "x")
	parts := c.produce(9, -1, rawPart{topic: "mine", partition: 0, records: batch}, rawPart{topic: "theirs", partition: 0, records: batch})
	if parts[0].ErrorCode != 0 || parts[1].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("produce: %v, %v; want success and TOPIC_AUTHORIZATION_FAILED",
			kerr.ErrorForCode(parts[0].ErrorCode), kerr.ErrorForCode(parts[1].ErrorCode))
	}
	for name, want := range map[string]int64{"mine": 1, "theirs": 0} {
		top, _ := s.store.TopicByName(ctx, name)
		ps, err := s.store.Partitions(ctx, top.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ps[0].NextOffset != want {
			t.Errorf("%s has %d records, want %d", name, ps[0].NextOffset, want)
		}
	}

	root := s.dialAs(t, admin)
	for _, group := range []string{"g1", "g2"} {
		resp := root.roundTrip(offsetCommitRequest(group, "mine", 0, 1), 8).(*kmsg.OffsetCommitResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	grant(t, s, alice, acl.ResourceGroup, "g1", acl.OpRead)
	list := c.roundTrip(kmsg.NewPtrListGroupsRequest(), 4).(*kmsg.ListGroupsResponse)
	var listed []string
	for _, lg := range list.Groups {
		listed = append(listed, lg.Group)
	}
	if !slices.Equal(listed, []string{"g1"}) {
		t.Errorf("ListGroups: %v, want [g1]", listed)
	}
	desc := kmsg.NewPtrDescribeGroupsRequest()
	desc.Groups = []string{"g1", "g2"}
	desc.IncludeAuthorizedOperations = true
	dr := c.roundTrip(desc, 5).(*kmsg.DescribeGroupsResponse)
	codes := map[string]int16{}
	ops := map[string]int32{}
	for _, g := range dr.Groups {
		codes[g.Group], ops[g.Group] = g.ErrorCode, g.AuthorizedOperations
	}
	if codes["g1"] != 0 || codes["g2"] != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("DescribeGroups codes %v", codes)
	}
	if ops["g1"] != 1<<acl.OpRead|1<<acl.OpDescribe {
		t.Errorf("g1's authorized operations %b, want Read and Describe", ops["g1"])
	}
	if err := kerr.ErrorForCode(codes["g2"]); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Error(err)
	}
}
