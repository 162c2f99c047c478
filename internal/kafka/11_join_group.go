package kafka

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/roleapi"
)

// JoinGroup v0-v9. The member waits for the rebalance to complete, off the
// connection's read loop; the client id and address of the connection are
// what DescribeGroups reports for the member.
func init() {
	registerNeeding(kmsg.JoinGroup.Int16(), 0, 9, needGroups, (*Server).handleJoinGroup)
}

func (s *Server) handleJoinGroup(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.JoinGroupRequest)
	if !s.authz(r).group(acl.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Generation = -1
		return respond(resp)
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.JoinGroup(ctx, req)
	})
}

// errNoGroups is the server fault of a group request reaching a server
// without a coordinator; such a server does not advertise the group APIs.
var errNoGroups = errors.New("kafka: group API called without a group coordinator")

// groupReply serves a group request through the coordinator, in
// Reply.Later: the coordinator may block (a rebalance, a commit). The
// group requests of one connection reach the coordinator one at a time, in
// the order they were sent, as Kafka serves a connection's requests one
// after the other: two pipelined OffsetCommits of a consumer are stored in
// order, and an OffsetFetch sent after an OffsetCommit sees it.
func (s *Server) groupReply(r *request, call func(ctx context.Context, g GroupCoordinator) kmsg.Response) (Reply, error) {
	if s.groups == nil {
		return Reply{}, errNoGroups
	}
	client := roleapi.Client{ID: r.clientID}
	if r.conn != nil {
		client.Host = clientHost(r.conn.nc.RemoteAddr())
	}
	return s.groupReplyQueued(r, client, call, true)
}

// groupOverview serves a read-only view of the groups (ListGroups,
// DescribeGroups) without waiting behind the connection's earlier group
// requests: a JoinGroup or OffsetCommit held during a rebalance must not
// stall an overview that changes nothing.
func (s *Server) groupOverview(r *request, call func(ctx context.Context, g GroupCoordinator) kmsg.Response) (Reply, error) {
	if s.groups == nil {
		return Reply{}, errNoGroups
	}
	client := roleapi.Client{ID: r.clientID}
	if r.conn != nil {
		client.Host = clientHost(r.conn.nc.RemoteAddr())
	}
	return s.groupReplyQueued(r, client, call, false)
}

func (s *Server) groupReplyQueued(r *request, client roleapi.Client, call func(ctx context.Context, g GroupCoordinator) kmsg.Response, ordered bool) (Reply, error) {
	if !ordered {
		return Reply{Later: func(ctx context.Context) kmsg.Response {
			return call(roleapi.WithClient(ctx, client), s.groups)
		}}, nil
	}
	prev, done := groupOrder.push(r.conn)
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		defer groupOrder.pop(r.conn, done)
		if prev != nil {
			select {
			case <-prev:
			case <-ctx.Done():
			}
		}
		return call(roleapi.WithClient(ctx, client), s.groups)
	}}, nil
}

// clientHost is a client's address as Kafka reports it in DescribeGroups:
// "/" and the IP address.
func clientHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		host = addr.String()
	}
	return "/" + host
}

// groupQueues orders the group requests of each connection: a request's
// work starts when the previous one's has finished.
type groupQueues struct {
	mu    sync.Mutex
	tails map[*conn]chan struct{} // the last request of each connection
}

var groupOrder = groupQueues{tails: map[*conn]chan struct{}{}}

// push appends a request of c: done is closed when it finishes, prev (nil
// when none) when the one before it has. Called in request order.
func (q *groupQueues) push(c *conn) (prev, done chan struct{}) {
	done = make(chan struct{})
	if c == nil {
		return nil, done
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	prev = q.tails[c]
	q.tails[c] = done
	return prev, done
}

// pop marks a request of c finished, forgetting c when it was the last.
func (q *groupQueues) pop(c *conn, done chan struct{}) {
	close(done)
	if c == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tails[c] == done {
		delete(q.tails, c)
	}
}
