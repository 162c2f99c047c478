package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

func consumerHeartbeatRequest(group, member string, topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, member, 0
	req.RebalanceTimeoutMillis = 30_000
	req.SubscribedTopicNames = topics
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

// TestConsumerGroupAPIsAuthorized: ConsumerGroupHeartbeat needs Read on
// the group and Describe on the topics subscribed to by name;
// ConsumerGroupDescribe needs Describe on the group and on the topics of
// its assignments, as in Kafka. Denials are audited and change nothing.
func TestConsumerGroupAPIsAuthorized(t *testing.T) {
	s, audit := startACLServer(t)
	mustCreateTopic(t, s, "orders", 2)
	alice := s.dialAs(t, "User:alice")
	bob := s.dialAs(t, "User:bob")

	hb := func(c *rawConn, member string) *kmsg.ConsumerGroupHeartbeatResponse {
		return c.roundTrip(consumerHeartbeatRequest("g1", member, "orders"), 1).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	if code := hb(alice, "a").ErrorCode; code != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("heartbeat without Read on the group: %v", kerr.ErrorForCode(code))
	}
	if len(audit.lines("User:alice", "g1")) == 0 {
		t.Errorf("the denial is not in the audit log: %s", audit)
	}
	grant(t, s, "User:alice", acl.ResourceGroup, "g1", acl.OpRead, acl.OpDescribe)
	resp := hb(alice, "a")
	if resp.ErrorCode != kerr.TopicAuthorizationFailed.Code || resp.ErrorMessage == nil {
		t.Fatalf("heartbeat without Describe on the topic: %v %v", kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage)
	}
	grant(t, s, "User:alice", acl.ResourceTopic, "orders", acl.OpDescribe)
	resp = hb(alice, "a")
	if resp.ErrorCode != 0 || resp.Assignment == nil || len(resp.Assignment.Topics) != 1 || len(resp.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("heartbeat with the grants: %+v", resp)
	}

	describe := func(c *rawConn) kmsg.ConsumerGroupDescribeResponseGroup {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{"g1"}
		req.IncludeAuthorizedOperations = true
		return c.roundTrip(req, 1).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
	}
	if code := describe(bob).ErrorCode; code != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("describe without Describe on the group: %v", kerr.ErrorForCode(code))
	}
	grant(t, s, "User:bob", acl.ResourceGroup, "g1", acl.OpDescribe)
	if d := describe(bob); d.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(d.Members) != 0 {
		t.Fatalf("describe without Describe on the assigned topic: %v, %d members", kerr.ErrorForCode(d.ErrorCode), len(d.Members))
	}
	d := describe(alice)
	if d.ErrorCode != 0 || len(d.Members) != 1 || d.Members[0].MemberID != "a" || d.AuthorizedOperations == 0 {
		t.Fatalf("describe with the grants: %+v", d)
	}
}
