package kafka

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/metastore"
)

// auditLog collects the lines of a server's audit log.
type auditLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.Write(p)
}

func (a *auditLog) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.String()
}

// lines returns the audit lines holding every one of parts.
func (a *auditLog) lines(parts ...string) []string {
	var out []string
	for _, l := range strings.Split(a.String(), "\n") {
		ok := l != ""
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

const (
	alice = "User:alice"
	admin = "User:admin"
)

// startACLServer starts a server that enforces ACLs kept in its metastore,
// with User:admin as super user and nothing allowed where no ACL is.
func startACLServer(t testing.TB, opts ...any) (*testServer, *auditLog) {
	t.Helper()
	audit := &auditLog{}
	logger := slog.New(slog.NewTextHandler(audit, nil))
	opts = append(opts, func(c *Config) {
		c.Auth.SuperUsers = admin
		c.Auth.AllowEveryoneIfNoACLFound = acl.OptionalBool{IsSet: true, Value: false}
	}, func(s *Server) {
		s.acls = acl.NewCache(s.meta.(acl.Source), newAuditLog(logger))
		s.audit = newAuditLog(logger)
		s.handlers = newHandlerTable(s.ingest != nil, s.reader != nil, s.groups != nil, true)
		s.scram = s.meta.(metastore.ScramStore)
	})
	return startServer(t, opts...), audit
}

// dialAs opens a connection whose principal is principal, as an
// authenticated connection has it.
func (s *testServer) dialAs(t testing.TB, principal string) *rawConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.addConn(sc, &listener{Listener: Listener{Name: "PLAINTEXT", Protocol: "PLAINTEXT"}})
	if !ok {
		t.Fatal("connection refused")
	}
	c.principal = principal // before its goroutine starts
	go func() {
		defer s.wg.Done()
		s.runConn(c)
	}()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// grant stores ACLs allowing principal the operations on a resource.
func grant(t testing.TB, s *testServer, principal string, rt acl.ResourceType, name string, ops ...acl.Operation) {
	t.Helper()
	var bs []acl.Binding
	for _, op := range ops {
		bs = append(bs, acl.Binding{ResourceType: rt, ResourceName: name, PatternType: acl.PatternLiteral,
			Principal: principal, Host: acl.Wildcard, Operation: op, Permission: acl.PermissionAllow})
	}
	if err := s.acls.CreateACLs(context.Background(), admin, "test", bs); err != nil {
		t.Fatal(err)
	}
}

func mustCreateTopic(t testing.TB, s *testServer, name string, partitions int32) metastore.Topic {
	t.Helper()
	top, err := s.store.CreateTopic(context.Background(), name, partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// matrixCase is one API of the ACL matrix: a request that needs the
// grants, the error a principal without them gets, and what must not
// have changed after the denied request.
type matrixCase struct {
	name   string
	setup  func(t *testing.T, s *testServer, root *rawConn)
	grants []grantSpec
	// call sends the request as the connection's principal and returns
	// the error code of the resource the grants are about.
	call func(t *testing.T, c *rawConn) int16
	// denied is the code without the grants (with the first grant
	// missing when there are several: grants apply in order).
	denied *kerr.Error
	// unchanged reports whether what the request would change is as
	// before; nil when the request changes nothing.
	unchanged func(t *testing.T, s *testServer) bool
	// audit is the resource the denial names in the audit log.
	audit string
}

type grantSpec struct {
	rt   acl.ResourceType
	name string
	ops  []acl.Operation
}

func g(rt acl.ResourceType, name string, ops ...acl.Operation) grantSpec {
	return grantSpec{rt, name, ops}
}

// TestACLMatrix: for every API the front door serves, a principal
// without the ACL Kafka requires gets its authorization error and the
// request changes nothing, the denial is in the audit log; with the ACL
// the same request succeeds.
func TestACLMatrix(t *testing.T) {
	ctx := context.Background()
	topicExists := func(name string) func(t *testing.T, s *testServer) bool {
		return func(t *testing.T, s *testServer) bool {
			_, err := s.store.TopicByName(ctx, name)
			return err == nil
		}
	}
	topicMissing := func(name string) func(t *testing.T, s *testServer) bool {
		return func(t *testing.T, s *testServer) bool {
			_, err := s.store.TopicByName(ctx, name)
			return errors.Is(err, metastore.ErrUnknownTopic)
		}
	}
	withTopic := func(t *testing.T, s *testServer, _ *rawConn) { mustCreateTopic(t, s, "orders", 2) }
	withRecords := func(t *testing.T, s *testServer, root *rawConn) {
		mustCreateTopic(t, s, "orders", 2)
		root.mustProduce("orders", 0, batchtest.Values(noProducer(1), "a", "b", "c"))
	}
	noOffsets := func(group string) func(t *testing.T, s *testServer) bool {
		return func(t *testing.T, s *testServer) bool {
			offs, err := s.store.FetchOffsets(ctx, group, nil)
			if err != nil {
				t.Fatal(err)
			}
			return len(offs) == 0
		}
	}
	withOffsets := func(t *testing.T, s *testServer, root *rawConn) {
		mustCreateTopic(t, s, "orders", 2)
		req := offsetCommitRequest("g1", "orders", 0, 5)
		resp := root.roundTrip(req, 8).(*kmsg.OffsetCommitResponse)
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("setup commit: %v", kerr.ErrorForCode(c))
		}
	}
	offsetsKept := func(t *testing.T, s *testServer) bool {
		offs, err := s.store.FetchOffsets(ctx, "g1", nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(offs) == 1 && offs[0].Offset == 5
	}

	cases := []matrixCase{
		{
			name: "Metadata/named", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				resp := c.roundTrip(metadataRequest(false, "orders"), 12).(*kmsg.MetadataResponse)
				return resp.Topics[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
		},
		{
			name:   "Metadata/auto-create",
			grants: []grantSpec{g(acl.ResourceTopic, "fresh", acl.OpCreate, acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				resp := c.roundTrip(metadataRequest(true, "fresh"), 12).(*kmsg.MetadataResponse)
				return resp.Topics[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, unchanged: topicMissing("fresh"), audit: "fresh",
		},
		{
			name: "Produce", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpWrite)},
			call: func(t *testing.T, c *rawConn) int16 {
				return c.produce(9, -1, rawPart{topic: "orders", partition: 0, records: batchtest.Values(noProducer(1), "x")})[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
			unchanged: func(t *testing.T, s *testServer) bool {
				top, _ := s.store.TopicByName(ctx, "orders")
				parts, err := s.store.Partitions(ctx, top.ID)
				if err != nil {
					t.Fatal(err)
				}
				return parts[0].NextOffset == 0
			},
		},
		{
			name: "Fetch", setup: withRecords,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				_, parts := c.fetch(fetchRequest(1<<20, fetchAt{topic: "orders", partition: 0, maxBytes: 1 << 20, epoch: -1}), 12)
				return parts[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
		},
		{
			name: "ListOffsets", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrListOffsetsRequest()
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = "orders"
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp := c.roundTrip(req, 7).(*kmsg.ListOffsetsResponse)
				return resp.Topics[0].Partitions[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
		},
		{
			name: "OffsetForLeaderEpoch", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrOffsetForLeaderEpochRequest()
				rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
				rt.Topic = "orders"
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 0
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp := c.roundTrip(req, 4).(*kmsg.OffsetForLeaderEpochResponse)
				return resp.Topics[0].Partitions[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
		},
		{
			name:   "CreateTopics",
			grants: []grantSpec{g(acl.ResourceTopic, "fresh", acl.OpCreate)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrCreateTopicsRequest()
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "fresh", 1, -1
				req.Topics = append(req.Topics, rt)
				req.TimeoutMillis = 5000
				return c.roundTrip(req, 7).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, unchanged: topicMissing("fresh"), audit: "fresh",
		},
		{
			name: "DeleteTopics", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDelete)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDeleteTopicsRequest()
				req.TopicNames = []string{"orders"}
				req.TimeoutMillis = 5000
				return c.roundTrip(req, 4).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, unchanged: topicExists("orders"), audit: "orders",
		},
		{
			name: "CreatePartitions", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpAlter)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrCreatePartitionsRequest()
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = "orders", 4
				req.Topics = append(req.Topics, rt)
				req.TimeoutMillis = 5000
				return c.roundTrip(req, 3).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
			unchanged: func(t *testing.T, s *testServer) bool {
				top, err := s.store.TopicByName(ctx, "orders")
				return err == nil && top.Partitions == 2
			},
		},
		{
			name: "DeleteRecords", setup: withRecords,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDelete)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDeleteRecordsRequest()
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = "orders"
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 2
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				req.TimeoutMillis = 5000
				return c.roundTrip(req, 2).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
			unchanged: func(t *testing.T, s *testServer) bool {
				top, _ := s.store.TopicByName(ctx, "orders")
				parts, err := s.store.Partitions(ctx, top.ID)
				return err == nil && parts[0].LogStartOffset == 0
			},
		},
		{
			name: "DescribeConfigs/topic", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDescribeConfigs)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDescribeConfigsRequest()
				r := kmsg.NewDescribeConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
				req.Resources = append(req.Resources, r)
				return c.roundTrip(req, 4).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
		},
		{
			name:   "DescribeConfigs/broker",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpDescribeConfigs)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDescribeConfigsRequest()
				r := kmsg.NewDescribeConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
				req.Resources = append(req.Resources, r)
				return c.roundTrip(req, 4).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
		},
		{
			name: "AlterConfigs", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpAlterConfigs)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrAlterConfigsRequest()
				r := kmsg.NewAlterConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
				cfg := kmsg.NewAlterConfigsRequestResourceConfig()
				cfg.Name, cfg.Value = "retention.ms", strPtr("1000")
				r.Configs = append(r.Configs, cfg)
				req.Resources = append(req.Resources, r)
				return c.roundTrip(req, 1).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders", unchanged: noTopicConfigs("orders"),
		},
		{
			name: "IncrementalAlterConfigs", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpAlterConfigs)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				r := kmsg.NewIncrementalAlterConfigsRequestResource()
				r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
				cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				cfg.Name, cfg.Value = "retention.ms", strPtr("1000")
				r.Configs = append(r.Configs, cfg)
				req.Resources = append(req.Resources, r)
				return c.roundTrip(req, 1).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders", unchanged: noTopicConfigs("orders"),
		},
		{
			name:   "DescribeCluster",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				return c.roundTrip(kmsg.NewPtrDescribeClusterRequest(), 0).(*kmsg.DescribeClusterResponse).ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
		},
		{
			name:   "DescribeUserScramCredentials",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				return c.roundTrip(kmsg.NewPtrDescribeUserSCRAMCredentialsRequest(), 0).(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
		},
		{
			name:   "AlterUserScramCredentials",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpAlter)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
				up.Name, up.Mechanism, up.Iterations = "mallory", 2, 8192
				up.Salt, up.SaltedPassword = []byte("salt-salt-salt"), make([]byte, 64)
				req.Upsertions = append(req.Upsertions, up)
				resp := c.roundTrip(req, 0).(*kmsg.AlterUserSCRAMCredentialsResponse)
				if len(resp.Results) != 1 {
					t.Fatalf("%d results, want mallory's", len(resp.Results))
				}
				return resp.Results[0].ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
			unchanged: func(t *testing.T, s *testServer) bool {
				_, err := s.store.ScramCredential(ctx, "mallory", "SCRAM-SHA-512")
				return errors.Is(err, metastore.ErrUnknownScramCredential)
			},
		},
		{
			name:   "InitProducerId",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpIdempotentWrite)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionTimeoutMillis = 60000
				return c.roundTrip(req, 4).(*kmsg.InitProducerIDResponse).ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
		},
		{
			name:   "InitProducerId/topic write",
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpWrite)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionTimeoutMillis = 60000
				return c.roundTrip(req, 4).(*kmsg.InitProducerIDResponse).ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
		},
		{
			name:   "FindCoordinator",
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorKey = "g1"
				return c.roundTrip(req, 3).(*kmsg.FindCoordinatorResponse).ErrorCode
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1",
		},
		{
			name:   "JoinGroup",
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrJoinGroupRequest()
				req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "g1", "consumer", 10000, 10000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0}
				req.Protocols = append(req.Protocols, p)
				code := c.roundTrip(req, 3).(*kmsg.JoinGroupResponse).ErrorCode
				if code == kerr.MemberIDRequired.Code {
					return 0 // v4+ only; v3 joins at once
				}
				return code
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1",
			unchanged: func(t *testing.T, s *testServer) bool {
				gs, err := s.store.ListGroups(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return len(gs) == 0
			},
		},
		{
			name:   "Heartbeat",
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID = "g1", "m"
				code := c.roundTrip(req, 3).(*kmsg.HeartbeatResponse).ErrorCode
				return allowedMeans(code, kerr.UnknownMemberID)
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1",
		},
		{
			name:   "SyncGroup",
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.MemberID = "g1", "m"
				code := c.roundTrip(req, 3).(*kmsg.SyncGroupResponse).ErrorCode
				return allowedMeans(code, kerr.UnknownMemberID)
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1",
		},
		{
			name:   "LeaveGroup",
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group, req.MemberID = "g1", "m"
				code := c.roundTrip(req, 2).(*kmsg.LeaveGroupResponse).ErrorCode
				return allowedMeans(code, kerr.UnknownMemberID)
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1",
		},
		{
			name: "OffsetCommit/group", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpRead), g(acl.ResourceTopic, "orders", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				resp := c.roundTrip(offsetCommitRequest("g1", "orders", 0, 5), 8).(*kmsg.OffsetCommitResponse)
				return resp.Topics[0].Partitions[0].ErrorCode
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1", unchanged: noOffsets("g1"),
		},
		{
			name: "OffsetCommit/topic", setup: withTopic,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpRead), g(acl.ResourceGroup, "g1", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				resp := c.roundTrip(offsetCommitRequest("g1", "orders", 0, 5), 8).(*kmsg.OffsetCommitResponse)
				return resp.Topics[0].Partitions[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders", unchanged: noOffsets("g1"),
		},
		{
			name: "OffsetFetch/group", setup: withOffsets,
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpDescribe), g(acl.ResourceTopic, "orders", acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				return offsetFetchCode(c, "g1", "orders")
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1",
		},
		{
			name: "OffsetFetch/topic", setup: withOffsets,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDescribe), g(acl.ResourceGroup, "g1", acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				return offsetFetchCode(c, "g1", "orders")
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders",
		},
		{
			name: "DescribeGroups", setup: withOffsets,
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{"g1"}
				return c.roundTrip(req, 5).(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1",
		},
		{
			name: "DeleteGroups", setup: withOffsets,
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpDelete)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"g1"}
				return c.roundTrip(req, 2).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1", unchanged: offsetsKept,
		},
		{
			name: "OffsetDelete/group", setup: withOffsets,
			grants: []grantSpec{g(acl.ResourceGroup, "g1", acl.OpDelete), g(acl.ResourceTopic, "orders", acl.OpRead)},
			call: func(t *testing.T, c *rawConn) int16 {
				resp := c.roundTrip(offsetDeleteRequest("g1", "orders", 0), 0).(*kmsg.OffsetDeleteResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			},
			denied: kerr.GroupAuthorizationFailed, audit: "g1", unchanged: offsetsKept,
		},
		{
			name: "OffsetDelete/topic", setup: withOffsets,
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpRead), g(acl.ResourceGroup, "g1", acl.OpDelete)},
			call: func(t *testing.T, c *rawConn) int16 {
				resp := c.roundTrip(offsetDeleteRequest("g1", "orders", 0), 0).(*kmsg.OffsetDeleteResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			},
			denied: kerr.TopicAuthorizationFailed, audit: "orders", unchanged: offsetsKept,
		},
		{
			name:   "CreateAcls",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpAlter)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrCreateACLsRequest()
				cr := kmsg.NewCreateACLsRequestCreation()
				cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, "logs", kmsg.ACLResourcePatternTypeLiteral
				cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:bob", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
				req.Creations = append(req.Creations, cr)
				return c.roundTrip(req, 2).(*kmsg.CreateACLsResponse).Results[0].ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
			unchanged: func(t *testing.T, s *testServer) bool {
				bs, _, err := s.store.ListACLs(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range bs {
					if b.Principal == "User:bob" {
						return false
					}
				}
				return true
			},
		},
		{
			name:   "DescribeAcls",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpDescribe)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				return c.roundTrip(req, 2).(*kmsg.DescribeACLsResponse).ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
		},
		{
			name:   "DeleteAcls",
			grants: []grantSpec{g(acl.ResourceCluster, acl.ClusterName, acl.OpAlter)},
			call: func(t *testing.T, c *rawConn) int16 {
				req := kmsg.NewPtrDeleteACLsRequest()
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				f.Principal = strPtr("User:carol")
				req.Filters = append(req.Filters, f)
				return c.roundTrip(req, 2).(*kmsg.DeleteACLsResponse).Results[0].ErrorCode
			},
			denied: kerr.ClusterAuthorizationFailed, audit: acl.ClusterName,
			unchanged: func(t *testing.T, s *testServer) bool {
				bs, _, err := s.store.ListACLs(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range bs {
					if b.Principal == "User:carol" {
						return true
					}
				}
				return false
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, audit := startACLServer(t)
			root := s.dialAs(t, admin)
			if tc.setup != nil {
				tc.setup(t, s, root)
			}
			if tc.name == "DeleteAcls" {
				grant(t, s, "User:carol", acl.ResourceTopic, "x", acl.OpRead)
			}
			c := s.dialAs(t, alice)
			// Every grant but the first: the first is the one missing.
			for _, gs := range tc.grants[1:] {
				grant(t, s, alice, gs.rt, gs.name, gs.ops...)
			}
			if got := tc.call(t, c); got != tc.denied.Code {
				t.Fatalf("without the ACL: %v, want %v", kerr.ErrorForCode(got), tc.denied)
			}
			if tc.unchanged != nil && !tc.unchanged(t, s) {
				t.Error("the denied request changed the metastore")
			}
			if lines := audit.lines("component=audit", "msg=denied", "principal="+alice, "resource="+tc.audit, "address=127.0.0.1:"); len(lines) == 0 {
				t.Errorf("no denial of %s in the audit log:\n%s", tc.audit, audit)
			}
			grant(t, s, alice, tc.grants[0].rt, tc.grants[0].name, tc.grants[0].ops...)
			if got := tc.call(t, c); got != 0 {
				t.Fatalf("with the ACLs: %v", kerr.ErrorForCode(got))
			}
			if tc.unchanged != nil {
				// Some changes are stored after the answer (a group's state).
				eventually(t, 5*time.Second, "the allowed request's change", func() bool { return !tc.unchanged(t, s) })
			}
		})
	}
}

// allowedMeans maps the error an allowed request gets for want of a
// member to success: past authorization, the coordinator answered.
func allowedMeans(code int16, past *kerr.Error) int16 {
	if code == past.Code {
		return 0
	}
	return code
}

func noTopicConfigs(name string) func(t *testing.T, s *testServer) bool {
	return func(t *testing.T, s *testServer) bool {
		top, err := s.store.TopicByName(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return len(top.Configs) == 0
	}
}

func offsetCommitRequest(group, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func offsetDeleteRequest(group, topic string, partition int32) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetDeleteRequestTopicPartition()
	rp.Partition = partition
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// offsetFetchCode fetches one partition's offset at v8 and returns the
// group's error, else the partition's; a partition's offset must be 5.
func offsetFetchCode(c *rawConn, group, topic string) int16 {
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp := c.roundTrip(req, 8).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 1 {
		c.t.Fatalf("offset fetch: %d groups answered", len(resp.Groups))
	}
	if code := resp.Groups[0].ErrorCode; code != 0 {
		return code
	}
	p := resp.Groups[0].Topics[0].Partitions[0]
	if p.ErrorCode == 0 && p.Offset != 5 {
		c.t.Fatalf("offset fetch: offset %d, want 5", p.Offset)
	}
	return p.ErrorCode
}

// staticACLs is an acl.Source holding a fixed list, for benchmarks.
type staticACLs []acl.Binding

func (s staticACLs) ACLVersion(context.Context) (int64, error) { return 1, nil }
func (s staticACLs) ListACLs(context.Context) ([]acl.Binding, int64, error) {
	return s, 1, nil
}
func (s staticACLs) CreateACLs(context.Context, []acl.Binding) error { return errors.ErrUnsupported }
func (s staticACLs) DeleteACLs(context.Context, []acl.Filter) ([][]acl.Binding, error) {
	return nil, errors.ErrUnsupported
}

// BenchmarkAuthorizeProduceRequest is what authorization adds to a
// Produce request of four topics: the request's authorizer (principal,
// client host, ACL snapshot) and Write checked on each topic, with 221
// ACLs of which 20 prefixed, and a super user who is not the principal.
func BenchmarkAuthorizeProduceRequest(b *testing.B) {
	var bs []acl.Binding
	add := func(name string, pt acl.PatternType, op acl.Operation) {
		bs = append(bs, acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: name, PatternType: pt,
			Principal: "User:app", Host: acl.Wildcard, Operation: op, Permission: acl.PermissionAllow})
	}
	for i := range 200 {
		add(fmt.Sprintf("topic-%d", i), acl.PatternLiteral, acl.OpWrite)
	}
	for i := range 20 {
		add(fmt.Sprintf("pre%d-", i), acl.PatternPrefixed, acl.OpRead)
	}
	add("orders-", acl.PatternPrefixed, acl.OpWrite)
	cache := acl.NewCache(staticACLs(bs), nil)
	if err := cache.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	s := &Server{acls: cache, policy: acl.Policy{SuperUsers: []string{"User:admin"}}, audit: slog.New(slog.DiscardHandler)}
	r := &request{key: 0, conn: &conn{nc: nc, principal: "User:app"}}
	topics := []string{"orders-eu", "orders-us", "topic-17", "topic-199"}
	b.ReportAllocs()
	for b.Loop() {
		az := s.authz(r)
		for _, t := range topics {
			if !az.topic(acl.OpWrite, t) {
				b.Fatal("denied")
			}
		}
	}
}

// TestAuthenticatingListenerDeniesWhereNoACL: once a listener
// authenticates, -auth.allow-everyone-if-no-acl-found defaults to false,
// and a super user still may do everything; set explicitly, the flag
// wins.
func TestAuthenticatingListenerDeniesWhereNoACL(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flag      acl.OptionalBool
		principal string
		want      *kerr.Error
	}{
		{"default", acl.OptionalBool{}, alice, kerr.TopicAuthorizationFailed},
		{"super user", acl.OptionalBool{}, admin, nil},
		{"allowed by the flag", acl.OptionalBool{IsSet: true, Value: true}, alice, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *Config) {
				c.Authenticates = true
				c.Auth.SuperUsers = admin
				c.Auth.AllowEveryoneIfNoACLFound = tc.flag
			})
			mustCreateTopic(t, s, "orders", 1)
			p := s.dialAs(t, tc.principal).produce(9, -1, rawPart{topic: "orders", partition: 0, records: batchtest.Values(noProducer(1), "x")})[0]
			if got := kerr.ErrorForCode(p.ErrorCode); !errors.Is(got, tc.want) && (got != nil || tc.want != nil) {
				t.Errorf("produce as %s: %v, want %v", tc.principal, got, tc.want)
			}
		})
	}
}

// BenchmarkProduceRoundTripAuthorized is BenchmarkProduceRoundTrip with
// and without ACLs in the same run: without, no ACLs and everyone
// allowed; with, 221 ACLs (20 prefixed) enforced, the producer allowed by
// a prefixed one.
func BenchmarkProduceRoundTripAuthorized(b *testing.B) {
	for _, withACLs := range []bool{false, true} {
		name := "no-acls"
		if withACLs {
			name = "221-acls"
		}
		b.Run(name, func(b *testing.B) {
			var s *testServer
			if withACLs {
				s, _ = startACLServer(b)
				for i := range 200 {
					grant(b, s, "User:app", acl.ResourceTopic, fmt.Sprintf("topic-%d", i), acl.OpWrite)
				}
				var bs []acl.Binding
				for i := range 20 {
					bs = append(bs, acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: fmt.Sprintf("pre%d-", i), PatternType: acl.PatternPrefixed,
						Principal: "User:app", Host: acl.Wildcard, Operation: acl.OpRead, Permission: acl.PermissionAllow})
				}
				bs = append(bs, acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: "bench-", PatternType: acl.PatternPrefixed,
					Principal: "User:app", Host: acl.Wildcard, Operation: acl.OpWrite, Permission: acl.PermissionAllow})
				if err := s.acls.CreateACLs(context.Background(), admin, "bench", bs); err != nil {
					b.Fatal(err)
				}
			} else {
				s = startServer(b)
			}
			mustCreateTopic(b, s, "bench-produce", 1)
			batch := batchtest.Values(noProducer(1000), string(bytes.Repeat([]byte("v"), 1000)))
			req := produceRequest(1, rawPart{topic: "bench-produce", records: batch})
			req.SetVersion(9)
			frame := encodeRequest(req, 1)
			c := s.dialAs(b, "User:app")
			c.mustProduce("bench-produce", 0, batch) // allowed, and warm
			werr := make(chan error, 1)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				bw := bufio.NewWriter(c.nc)
				for range b.N {
					if _, err := bw.Write(frame); err != nil {
						werr <- err
						return
					}
				}
				werr <- bw.Flush()
			}()
			for range b.N {
				if _, _, err := c.readFrame(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := <-werr; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// Credential changes go to the audit log with who made them and from
// where, and never with what they were made from.
func TestScramChangesAudited(t *testing.T) {
	s, audit := startACLServer(t)
	c := s.dialAs(t, admin)
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations = "carol", 2, 8192
	up.Salt, up.SaltedPassword = []byte("salt-salt-salt"), []byte("salted-password-bytes-0123456789abcdef0123456789abcdef0123456789")
	req.Upsertions = append(req.Upsertions, up)
	resp := c.roundTrip(req, 0).(*kmsg.AlterUserSCRAMCredentialsResponse)
	if len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", resp.Results)
	}
	del := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	d.Name, d.Mechanism = "carol", 2
	del.Deletions = append(del.Deletions, d)
	if resp := c.roundTrip(del, 0).(*kmsg.AlterUserSCRAMCredentialsResponse); len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("delete: %+v", resp.Results)
	}
	for _, what := range []string{"SCRAM credential set", "SCRAM credential deleted"} {
		if got := audit.lines("component=audit", what, "principal="+admin, "user=carol", "address=127.0.0.1:"); len(got) != 1 {
			t.Errorf("%q: %d audit lines, want 1:\n%s", what, len(got), audit)
		}
	}
	if strings.Contains(audit.String(), "salted-password") || strings.Contains(audit.String(), "salt-salt") {
		t.Errorf("the audit log holds the credential's material:\n%s", audit)
	}
}
