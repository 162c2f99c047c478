package kafka

import (
	"context"
	"errors"
	"log/slog"

	"github.com/google/uuid"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// Authorization. Every handler decides through one authz, taken at the
// start of its synchronous part: the principal and host of the request
// (a Later function runs after requests that may re-authenticate the
// connection) and one snapshot of the ACLs, so that a refresh in the
// middle of a request does not split its answer. Kafka's documentation of
// the operations each API needs is followed API by API; the table is in
// docs/authorization.md. A denial is answered per resource, never by
// failing the whole request for the part denied, and goes to the audit
// log (component "audit") with the principal, the client's address, the
// resource and the operation.

// authz is one request's authorizer.
type authz struct {
	s         *Server
	r         *request
	set       *acl.Set
	principal string
	host      string
}

// authz returns the authorizer of r.
func (s *Server) authz(r *request) *authz {
	set := emptyACLs
	if s.acls != nil {
		set = s.acls.Set()
	}
	return &authz{s: s, r: r, set: set, principal: r.principal(), host: r.clientHost()}
}

var emptyACLs = acl.NewSet(nil)

// may reports whether the request may do op on the resource, without
// logging a denial: for filtering, where Kafka does not log either (the
// topics of a Metadata request for every topic, the groups of ListGroups).
func (a *authz) may(op acl.Operation, rt acl.ResourceType, name string) bool {
	return a.set.Authorize(&a.s.policy, a.principal, a.host, op, rt, name)
}

// check is may, logging a denial in the audit log.
func (a *authz) check(op acl.Operation, rt acl.ResourceType, name string) bool {
	if a.may(op, rt, name) {
		return true
	}
	a.s.audit.Info("denied", "principal", a.principal, "address", a.r.conn.nc.RemoteAddr().String(),
		"api", apiName(a.r.key), "resource_type", rt.String(), "resource", name, "operation", op.String())
	return false
}

// topic checks op on a topic; false comes with TOPIC_AUTHORIZATION_FAILED.
func (a *authz) topic(op acl.Operation, name string) bool {
	return a.check(op, acl.ResourceTopic, name)
}

// group checks op on a group.
func (a *authz) group(op acl.Operation, name string) bool {
	return a.check(op, acl.ResourceGroup, name)
}

// cluster checks op on the cluster.
func (a *authz) cluster(op acl.Operation) bool {
	return a.check(op, acl.ResourceCluster, acl.ClusterName)
}

// topicErr is nil when op on the topic is allowed, the error to answer
// otherwise.
func (a *authz) topicErr(op acl.Operation, name string) error {
	if a.topic(op, name) {
		return nil
	}
	return errTopicAuthz
}

// groupErr is topicErr for a group.
func (a *authz) groupErr(op acl.Operation, name string) error {
	if a.group(op, name) {
		return nil
	}
	return errGroupAuthz
}

// clusterErr is topicErr for the cluster.
func (a *authz) clusterErr(op acl.Operation) error {
	if a.cluster(op) {
		return nil
	}
	return errClusterAuthz
}

// ops is KIP-430's authorized operations of the resource.
func (a *authz) ops(rt acl.ResourceType, name string) int32 {
	return a.set.AuthorizedOperations(&a.s.policy, a.principal, a.host, rt, name)
}

// anyTopic reports whether op is allowed on some topic, as Kafka's
// authorizeByResourceType, which InitProducerId uses for idempotent
// producers without IdempotentWrite on the cluster.
func (a *authz) anyTopic(op acl.Operation) bool {
	return a.set.AuthorizeAny(&a.s.policy, a.principal, a.host, op, acl.ResourceTopic)
}

var (
	errTopicAuthz   = errorf(kerr.TopicAuthorizationFailed, "not authorized to access the topic")
	errGroupAuthz   = errorf(kerr.GroupAuthorizationFailed, "not authorized to access the group")
	errClusterAuthz = errorf(kerr.ClusterAuthorizationFailed, "not authorized on the cluster")
)

// newAuditLog is the audit log of the front door: its own component, so
// that it can be routed and kept apart from the rest.
func newAuditLog(l *slog.Logger) *slog.Logger { return l.With("component", "audit") }

// topicByName checks op on the topic, then looks it up: in that order,
// so that a principal without op does not learn whether it exists.
func (a *authz) topicByName(ctx context.Context, op acl.Operation, name string) (*topicInfo, error) {
	if err := a.topicErr(op, name); err != nil {
		return nil, err
	}
	return a.s.topics.topicByName(ctx, name)
}

// topicByRef checks op on a topic the request names by name or, when the
// name is empty, by id (OffsetCommit v10, OffsetFetch v10). An id no topic
// has passes, so that the API answers UNKNOWN_TOPIC_ID as without ACLs;
// a metastore failure is a denial, logged as one.
func (a *authz) topicByRef(ctx context.Context, op acl.Operation, name string, id [16]byte) bool {
	if name == "" && id != ([16]byte{}) {
		info, err := a.s.topics.topicByID(ctx, uuid.UUID(id))
		if errors.Is(err, metastore.ErrUnknownTopic) {
			return true
		}
		if err == nil {
			name = info.Name
		}
	}
	return a.topic(op, name)
}

// configResource checks op (DescribeConfigs, AlterConfigs) on the
// resource of a configs request: a topic, a group, or for a broker the
// cluster, as Kafka does. Other types pass; the handler refuses them.
func (a *authz) configResource(op acl.Operation, rt kmsg.ConfigResourceType, name string) error {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		return a.topicErr(op, name)
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		return a.clusterErr(op)
	case kmsg.ConfigResourceTypeGroupConfig:
		return a.groupErr(op, name)
	}
	return nil
}
