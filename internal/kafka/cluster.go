package kafka

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// ClusterView is what the front door needs to know of the other nodes;
// *cluster.View implements it.
type ClusterView interface {
	// Self is this node, with the roles it runs.
	Self() cluster.Node
	Brokers() []cluster.Node
	ControllerID() int32
	Leader(tp metastore.PartitionKey) (node, epoch int32, ok bool)
	LeaderFor(tp metastore.PartitionKey, clientZone string) (cluster.Node, bool)
	PreferredReadReplica(tp metastore.PartitionKey, clientZone string) int32
	CoordinatorFor(key string) (cluster.Node, bool)
	// Node returns a live node by id.
	Node(id int32) (cluster.Node, bool)
}

// How the front door uses the cluster view (see docs/cluster.md):
//
//   - Metadata and DescribeCluster list the live brokers and the controller.
//     A partition's leader is the node the view gives the client for its
//     zone (the zone named in its client id), this node when the view knows
//     no live ingest node; its leader epoch is the larger of the view's and
//     the metastore's (through the topic cache), so that it never goes back.
//   - Fetch v11+ sends a client to another node with KIP-392's preferred
//     read replica: a reader in the client's zone (client.rack, or the zone
//     in its client id), or, when this node does not run the reader role,
//     any live reader. Older fetches, and fetches when no reader is live,
//     are served here: every node can read.
//   - A node without the ingest role answers Produce with
//     NOT_LEADER_OR_FOLLOWER, which makes clients refresh their metadata and
//     produce to a leader; such a node is never a leader.

// selfNode returns this node as the cluster sees it.
func (s *Server) selfNode() cluster.Node {
	if s.cluster != nil {
		return s.cluster.Self()
	}
	eps := s.endpoints()
	return cluster.Node{ID: s.cfg.NodeID, Host: eps[0].Host, Port: eps[0].Port, Rack: s.cfg.Rack, Roles: cluster.AllRoles, Listeners: eps}
}

// endpoint returns node n's advertised address on the listener r's
// client connected on; false when n does not serve that listener.
func (r *request) endpoint(n cluster.Node) (host string, port int32, ok bool) {
	return n.Endpoint(r.conn.listener.Name)
}

// brokersFor returns brokers as the client of r is told of them: with
// the addresses of the listener it connected on, and without the nodes
// that do not serve that listener (as Kafka leaves them out).
func brokersFor(brokers []cluster.Node, r *request) []cluster.Node {
	out := make([]cluster.Node, 0, len(brokers))
	for _, n := range brokers {
		if host, port, ok := r.endpoint(n); ok {
			n.Host, n.Port = host, port
			out = append(out, n)
		}
	}
	return out
}

// brokers returns the live nodes ordered by id; this node is among them.
func (s *Server) brokers() []cluster.Node {
	if s.cluster == nil {
		return []cluster.Node{s.selfNode()}
	}
	return s.cluster.Brokers()
}

// controllerID returns the node reported as the controller: the holder of
// the controller lease when it is live, else this node. Clients send admin
// requests there, and every node serves them, so it must be reachable.
func (s *Server) controllerID(brokers []cluster.Node) int32 {
	if s.cluster == nil {
		return s.cfg.NodeID
	}
	id := s.cluster.ControllerID()
	if id >= 0 && slices.ContainsFunc(brokers, func(n cluster.Node) bool { return n.ID == id }) {
		return id
	}
	return s.selfNode().ID
}

// partitionLeader returns the leader reported to a client in zone for
// partition part, and the leader epoch reported with it.
func (s *Server) partitionLeader(part metastore.Partition, zone string) (leader, epoch int32) {
	if s.cluster == nil {
		return s.cfg.NodeID, part.LeaderEpoch
	}
	tp := metastore.PartitionKey{TopicID: part.TopicID, Partition: part.Partition}
	epoch = part.LeaderEpoch
	if _, e, ok := s.cluster.Leader(tp); ok {
		epoch = max(epoch, e)
	}
	if n, ok := s.cluster.LeaderFor(tp, zone); ok {
		return n.ID, epoch
	}
	return s.selfNode().ID, epoch
}

// readReplicas returns the replicas reported for a partition led by leader:
// the leader first, then the other live nodes that serve reads, so that
// clients accept any of them as a preferred read replica.
func readReplicas(leader int32, brokers []cluster.Node) []int32 {
	out := []int32{leader}
	for _, n := range brokers {
		if n.ID != leader && n.Roles.Has(cluster.RoleReader) {
			out = append(out, n.ID)
		}
	}
	return out
}

// preferredReadReplica returns the node a client in zone should fetch tp
// from instead of this one, or -1 to serve it here.
func (s *Server) preferredReadReplica(tp metastore.PartitionKey, zone string) int32 {
	if s.cluster == nil {
		return -1
	}
	self := s.cluster.Self()
	id := s.cluster.PreferredReadReplica(tp, zone)
	if (id < 0 || id == self.ID) && !self.Roles.Has(cluster.RoleReader) {
		id = anyReader(tp, s.cluster.Brokers())
	}
	if id == self.ID {
		return -1
	}
	return id
}

// anyReader picks a live reader-role node for tp by rendezvous hashing, so
// that every node sends a partition's fetches to the same reader; -1 when
// none is live.
func anyReader(tp metastore.PartitionKey, brokers []cluster.Node) int32 {
	best, bestScore := int32(-1), uint64(0)
	for _, n := range brokers {
		if !n.Roles.Has(cluster.RoleReader) {
			continue
		}
		h := fnv.New64a()
		h.Write(tp.TopicID[:])
		var b [8]byte
		binary.BigEndian.PutUint32(b[:4], uint32(tp.Partition))
		binary.BigEndian.PutUint32(b[4:], uint32(n.ID))
		h.Write(b[:])
		if sc := h.Sum64(); best < 0 || sc > bestScore {
			best, bestScore = n.ID, sc
		}
	}
	return best
}

// newFetchRedirects returns strata_kafka_fetch_redirects_total, registered
// with reg unless it is nil.
func newFetchRedirects(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_kafka_fetch_redirects_total",
		Help: "Fetch partitions answered with a preferred read replica (KIP-392) instead of records.",
	})
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

// notIngest is the produce path of a node without the ingest role: it
// refuses every partition with NOT_LEADER_OR_FOLLOWER, so that clients with
// stale metadata look the leader up again and produce there.
type notIngest struct{ node int32 }

func (n notIngest) Produce(context.Context, []roleapi.PartitionRecords) (roleapi.Pending, error) {
	return nil, errorf(kerr.NotLeaderForPartition, "node %d does not run the ingest role", n.node)
}
