package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/metastore"
)

// View is one node's picture of the cluster: the live nodes, the
// controller and the partition leaders, as of the last poll of the
// metastore. Its methods are cheap (no I/O, no locks) and safe for
// concurrent use; the front door calls them per request.
type View struct {
	self Node
	snap atomic.Pointer[snapshot]

	refreshMu sync.Mutex // one refresh at a time
}

type leader struct {
	node, epoch int32
}

// snapshot is immutable once published.
type snapshot struct {
	nodes          []Node // live, ordered by id
	byID           map[int32]Node
	controller     int32
	leadersVersion int64
	leadersLoaded  bool
	leaders        map[metastore.PartitionKey]leader
	ingest         []Node // live nodes with the ingest role
	coordinators   []Node // live nodes with the coordinator role
	ingestByZone   map[string][]Node
	readersByZone  map[string][]Node
	at             time.Time // when the metastore state was read
}

func newSnapshot(nodes []Node, controller int32) *snapshot {
	s := &snapshot{
		nodes:         slices.Clone(nodes),
		byID:          make(map[int32]Node, len(nodes)),
		controller:    controller,
		leaders:       map[metastore.PartitionKey]leader{},
		ingestByZone:  map[string][]Node{},
		readersByZone: map[string][]Node{},
	}
	slices.SortFunc(s.nodes, func(a, b Node) int { return int(a.ID) - int(b.ID) })
	for _, n := range s.nodes {
		s.byID[n.ID] = n
		if n.Roles.Has(RoleIngest) {
			s.ingest = append(s.ingest, n)
			if n.Rack != "" {
				s.ingestByZone[n.Rack] = append(s.ingestByZone[n.Rack], n)
			}
		}
		if n.Roles.Has(RoleCoordinator) {
			s.coordinators = append(s.coordinators, n)
		}
		if n.Roles.Has(RoleReader) && n.Rack != "" {
			s.readersByZone[n.Rack] = append(s.readersByZone[n.Rack], n)
		}
	}
	return s
}

// newView returns a view of self alone, to be refreshed from a store.
func newView(self Node) *View {
	v := &View{self: self}
	v.snap.Store(newSnapshot(nil, -1))
	return v
}

// NewStaticView returns a view that never changes: self and others are
// live, self is the controller, and no partition has a known leader (so
// LeaderFor picks among the ingest nodes by hash). It serves tests, and a
// front door run without a cluster Member.
func NewStaticView(self Node, others ...Node) *View {
	v := &View{self: self}
	nodes := []Node{self}
	for _, n := range others {
		if n.ID != self.ID {
			nodes = append(nodes, n)
		}
	}
	s := newSnapshot(nodes, self.ID)
	s.leadersLoaded = true
	s.at = time.Now()
	v.snap.Store(s)
	return v
}

// refresh polls store and publishes a new snapshot. It reports whether the
// set of live nodes (ids, addresses, racks or roles) changed.
func (v *View) refresh(ctx context.Context, store metastore.ClusterStore) (changed bool, err error) {
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	st, err := store.ClusterState(ctx)
	if err != nil {
		return false, err
	}
	nodes := make([]Node, len(st.Nodes))
	for i, info := range st.Nodes {
		nodes[i] = nodeFromInfo(info)
	}
	old := v.snap.Load()
	next := newSnapshot(nodes, st.Controller.NodeID)
	next.at = st.Now
	next.leadersVersion = st.LeadersVersion
	if old.leadersLoaded && old.leadersVersion == st.LeadersVersion {
		next.leaders, next.leadersLoaded = old.leaders, true
	} else {
		// Read after the version: the leaders are at least that new, and
		// a change in between is read again at the next poll.
		ls, err := store.PartitionLeaders(ctx)
		if err != nil {
			return false, fmt.Errorf("partition leaders: %w", err)
		}
		next.leaders = make(map[metastore.PartitionKey]leader, len(ls))
		for _, l := range ls {
			next.leaders[metastore.PartitionKey{TopicID: l.TopicID, Partition: l.Partition}] = leader{l.Leader, l.Epoch}
		}
		next.leadersLoaded = true
	}
	v.snap.Store(next)
	return !slices.EqualFunc(old.nodes, next.nodes, Node.Equal), nil
}

// Self returns this node.
func (v *View) Self() Node { return v.self }

// Refreshed returns when the metastore state in the view was read (by the
// metastore's clock); zero before the first poll.
func (v *View) Refreshed() time.Time { return v.snap.Load().at }

// Brokers returns the live nodes ordered by id, for Metadata and
// DescribeCluster. This node is always among them: it is serving.
func (v *View) Brokers() []Node {
	s := v.snap.Load()
	if _, ok := s.byID[v.self.ID]; ok {
		return slices.Clone(s.nodes)
	}
	out := append(slices.Clone(s.nodes), v.self)
	slices.SortFunc(out, func(a, b Node) int { return int(a.ID) - int(b.ID) })
	return out
}

// Node returns live node id.
func (v *View) Node(id int32) (Node, bool) {
	if id == v.self.ID {
		return v.self, true
	}
	n, ok := v.snap.Load().byID[id]
	return n, ok
}

// ControllerID returns the node holding the controller lease, -1 when none.
func (v *View) ControllerID() int32 { return v.snap.Load().controller }

// Leader returns the partition's leader node and leader epoch as the
// controller last assigned them; ok is false for a partition the view does
// not know yet (created since the last poll). The leader may be dead.
func (v *View) Leader(tp metastore.PartitionKey) (node, epoch int32, ok bool) {
	l, ok := v.snap.Load().leaders[tp]
	return l.node, l.epoch, ok
}

// LeaderFor returns the node a client should produce to for partition tp.
// That is the partition's leader, unless the client names a zone
// (clientZone) that the leader is not in and a live ingest node in that
// zone exists: then it is one of those, chosen by hashing the partition,
// so that all clients of a zone batch a partition on the same node. A
// partition without a live leader gets an ingest node chosen by hash too.
// ok is false only when no ingest node is live.
func (v *View) LeaderFor(tp metastore.PartitionKey, clientZone string) (Node, bool) {
	s := v.snap.Load()
	l, known := s.leaders[tp]
	ln, live := s.byID[l.node]
	valid := known && live && ln.Roles.Has(RoleIngest)
	if clientZone != "" && (!valid || ln.Rack != clientZone) {
		if local := s.ingestByZone[clientZone]; len(local) > 0 {
			n, _ := pick(hashPartition(tp), local)
			return n, true
		}
	}
	if valid {
		return ln, true
	}
	return pick(hashPartition(tp), s.ingest)
}

// PreferredReadReplica returns the node a client in clientZone should
// fetch partition tp from (KIP-392), or -1 when the client names no zone
// or no live reader is in it. It is the node LeaderFor gives the client
// when that is a reader in its zone, else a reader of the zone chosen by
// hashing the partition. The front door returns it only when it is not
// itself.
func (v *View) PreferredReadReplica(tp metastore.PartitionKey, clientZone string) int32 {
	if clientZone == "" {
		return -1
	}
	s := v.snap.Load()
	readers := s.readersByZone[clientZone]
	if len(readers) == 0 {
		return -1
	}
	if n, ok := v.LeaderFor(tp, clientZone); ok && n.Rack == clientZone && n.Roles.Has(RoleReader) {
		return n.ID
	}
	n, _ := pick(hashPartition(tp), readers)
	return n.ID
}

// CoordinatorFor returns the coordinator of a consumer group (or of any
// key FindCoordinator is asked about): the live coordinator-role node with
// the highest rendezvous score for the key. ok is false when no
// coordinator is live.
func (v *View) CoordinatorFor(group string) (Node, bool) {
	return pick(hashString(group), v.snap.Load().coordinators)
}

// IsCoordinator reports whether this node coordinates group.
func (v *View) IsCoordinator(group string) bool {
	n, ok := v.CoordinatorFor(group)
	return ok && n.ID == v.self.ID
}
