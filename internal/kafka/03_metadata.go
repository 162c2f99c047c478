package kafka

import (
	"context"
	"errors"
	"slices"
	"sort"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/metastore"
)

// Metadata v0-v13.
//
//   - A null topic list (v1+), or an empty one in v0, asks for every topic.
//   - Unknown topics are created with the default partition count when
//     auto-creation is on and the request allows it: v0-v3 carry no flag and
//     always allow it, as in Kafka; v4+ use AllowAutoTopicCreation.
//   - v10+ may name topics by id; an unknown id is UNKNOWN_TOPIC_ID.
//   - Topics and their partitions come from the topic cache (see
//     topicCache): this node's own changes show at once, other nodes'
//     within Config.TopicCacheTTL.
//   - Brokers are the live nodes of the cluster view, the controller the
//     holder of the controller lease (this node when that one is not live).
//     A partition's leader is the node the view gives the client's zone
//     ("zone=NAME" in its client id; see cluster.View.LeaderFor), its
//     epoch the larger of the view's and the metastore's. Replicas and ISR
//     list the leader, then the other live reader nodes: any of them may be
//     named a preferred read replica in Fetch.
//   - Authorization: a request for every topic lists only the topics the
//     principal may Describe; a named topic it may not Describe is
//     TOPIC_AUTHORIZATION_FAILED, whether it exists or not. An unknown
//     topic is auto-created only for a principal that may Create on the
//     cluster or on the topic; otherwise it is TOPIC_AUTHORIZATION_FAILED,
//     as Kafka answers. The authorized operations (KIP-430), when asked
//     for (v8+), are the principal's on each topic and on the cluster.
//   - One request looks up at most Config.MaxMetadataLookups topics the
//     topic cache cannot answer, and creates at most
//     Config.MaxAutoCreateTopics; the rest are LEADER_NOT_AVAILABLE, which
//     clients retry (see metadataWork).
//   - Kafka's internal topics (internalTopics) are listed with every topic
//     and when named, marked internal; they are never auto-created.
func init() { register(kmsg.Metadata.Int16(), 0, 13, (*Server).handleMetadata) }

func (s *Server) handleMetadata(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	brokers := brokersFor(s.brokers(), r)
	resp.Brokers = make([]kmsg.MetadataResponseBroker, 0, len(brokers))
	for _, n := range brokers {
		resp.Brokers = append(resp.Brokers, metadataBroker(n))
	}
	resp.ClusterID = strPtr(s.cfg.ClusterID)
	resp.ControllerID = s.controllerID(brokers)
	az := s.authz(r)
	view := metadataView{brokers: brokers, zone: cluster.ZoneFromClientID(r.clientID), az: az}
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = az.ops(acl.ResourceCluster, acl.ClusterName)
	}

	if req.Topics == nil || req.Version == 0 && len(req.Topics) == 0 {
		topics, err := s.meta.ListTopics(ctx)
		if err != nil {
			// v0-v12 have no top-level error, and franz-go fails a
			// whole request on a v13 one: close the connection, which
			// every client retries on a new one.
			s.logUnavailable("Metadata", err)
			return Reply{}, errCloseConn
		}
		for _, t := range internalTopics {
			topics = append(topics, metastore.Topic{Name: t.name})
		}
		sort.Slice(topics, func(i, j int) bool { return topics[i].Name < topics[j].Name })
		for i, t := range topics {
			if !az.may(acl.OpDescribe, acl.ResourceTopic, t.Name) {
				continue // not logged, as Kafka does not log this filter
			}
			if it, ok := internalTopicNamed(t.Name); ok {
				if i > 0 && topics[i-1].Name == t.Name {
					continue // also in the metastore, made before it was refused
				}
				resp.Topics = append(resp.Topics, metadataInternalTopic(it, view, req))
				continue
			}
			info, err := s.topics.listed(ctx, t)
			if err != nil {
				if errors.Is(err, metastore.ErrUnknownTopic) {
					continue // deleted since it was listed
				}
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = strPtr(t.Name)
				mt.TopicID = t.ID
				mt.ErrorCode = s.errorCode("Metadata", err)
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, s.metadataTopic(info, req, view))
		}
		return respond(resp)
	}

	autoCreate := s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(req.Topics))
	seen := make(map[string]bool, len(req.Topics))
	seenID := make(map[uuid.UUID]bool)
	w := metadataWork{s: s, az: az}
	// Many names the cache does not know: one query for every topic tells
	// which exist, rather than one query per name.
	uncached := 0
	for _, rt := range req.Topics {
		if rt.Topic != nil && !s.topics.cachedName(*rt.Topic) {
			if uncached++; uncached > manyUncached {
				if all, err := s.topics.allTopics(ctx); err == nil {
					w.all = all
				}
				break
			}
		}
	}
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			id := uuid.UUID(rt.TopicID)
			if seenID[id] {
				continue
			}
			seenID[id] = true
			if !s.topics.cachedID(id) && !w.lookup() {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.LeaderNotAvailable.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			info, err := s.topics.topicByID(ctx, id)
			if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				if errors.Is(err, metastore.ErrUnknownTopic) {
					mt.ErrorCode = kerr.UnknownTopicID.Code
				} else {
					mt.ErrorCode = s.errorCode("Metadata", err)
				}
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			if !az.topic(acl.OpDescribe, info.Name) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, s.metadataTopic(info, req, view))
			continue
		}
		name := *rt.Topic
		if seen[name] {
			continue
		}
		seen[name] = true
		var info *topicInfo
		var err error
		if !az.topic(acl.OpDescribe, name) {
			err = errTopicAuthz
		} else if it, ok := internalTopicNamed(name); ok {
			resp.Topics = append(resp.Topics, metadataInternalTopic(it, view, req))
			continue
		} else if _, listed := w.all[name]; w.all != nil && !listed && !autoCreate {
			// Not among every topic: unknown, at the cost of a map
			// lookup, since a request may name thousands.
			err = errUnknownListed
		} else if cached := s.topics.cachedName(name); w.needsLookup(name, cached) && !w.lookup() {
			err = errLookupsSpent
		} else {
			info, err = s.topicForMetadata(ctx, name, cached, autoCreate, &w)
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = strPtr(name)
			mt.ErrorCode = s.errorCode("Metadata", err)
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(info, req, view))
	}
	return respond(resp)
}

// metadataWork counts the metastore work of one Metadata request against
// Config.MaxMetadataLookups and Config.MaxAutoCreateTopics: without a
// bound, a request naming 20,000 unknown topics queried the metastore
// 20,000 times, and one request could create 300 topics. The topics
// beyond a bound are answered LEADER_NOT_AVAILABLE, which clients retry:
// the next request finds the looked-up ones in the topic cache and goes
// further. A request naming more than manyUncached topics the cache does
// not know lists every topic once (topicCache.allTopics): names missing
// from the list are unknown without a query of their own.
type metadataWork struct {
	s                *Server
	az               *authz
	lookups, creates int
	all              map[string]metastore.Topic // every topic, when the request names many unknown to the cache
}

// manyUncached is the number of names unknown to the topic cache above
// which a Metadata request lists every topic instead of looking each up.
const manyUncached = 32

var (
	errUnknownListed = errorf(kerr.UnknownTopicOrPartition, "no such topic among every topic listed")
	errLookupsSpent  = errorf(kerr.LeaderNotAvailable, "metadata lookup bound reached")
	errCreatesSpent  = errorf(kerr.LeaderNotAvailable, "auto-creation bound reached")
)

// needsLookup reports whether answering for name takes a metastore
// query: the cache does not know it (cached), and it is not known to be
// missing from the list of every topic.
func (w *metadataWork) needsLookup(name string, cached bool) bool {
	if cached {
		return false
	}
	if w.all != nil {
		_, ok := w.all[name]
		return ok
	}
	return true
}

// lookup reports whether one more topic may be looked up in the
// metastore, and counts it.
func (w *metadataWork) lookup() bool {
	if max := w.s.cfg.MaxMetadataLookups; max > 0 && w.lookups >= max {
		return false
	}
	w.lookups++
	return true
}

// create reports whether one more topic may be created, and counts it.
func (w *metadataWork) create() bool {
	if max := w.s.cfg.MaxAutoCreateTopics; max > 0 && w.creates >= max {
		return false
	}
	w.creates++
	return true
}

// topicForMetadata looks a topic up by name, creating it when allowed;
// cached tells whether the topic cache knows the name.
func (s *Server) topicForMetadata(ctx context.Context, name string, cached, autoCreate bool, w *metadataWork) (*topicInfo, error) {
	var info *topicInfo
	var err error
	if t, listed := w.all[name]; w.all != nil && !cached {
		if listed {
			info, err = s.topics.listed(ctx, t)
		} else {
			err = s.topics.markUnknown(name)
		}
	} else {
		info, err = s.topics.topicByName(ctx, name)
	}
	if err == nil || !errors.Is(err, metastore.ErrUnknownTopic) || !autoCreate {
		return info, err
	}
	if err := checkTopicName(name); err != nil {
		return nil, err
	}
	if !w.az.may(acl.OpCreate, acl.ResourceCluster, acl.ClusterName) && !w.az.topic(acl.OpCreate, name) {
		return nil, errTopicAuthz
	}
	if !w.create() {
		if ok, n := s.rateLog.allow("auto-create bound"); ok {
			s.log.Info("auto-creation bound reached; topics left for a later request", "max", s.cfg.MaxAutoCreateTopics, "requests", n)
		}
		return nil, errCreatesSpent
	}
	_, err = s.meta.CreateTopic(ctx, name, s.cfg.DefaultPartitions, nil)
	switch {
	case err == nil:
		s.log.Info("auto-created topic", "topic", name, "partitions", s.cfg.DefaultPartitions)
	case errors.Is(err, metastore.ErrTopicExists):
		// Created meanwhile by another client.
	default:
		return nil, err
	}
	s.topics.invalidate(name)
	return s.topics.topicByName(ctx, name)
}

// metadataView is what a Metadata response reports of the cluster.
type metadataView struct {
	brokers []cluster.Node
	zone    string // the client's zone, "" when it names none
	az      *authz
}

// metadataTopic describes one topic and its partitions.
func (s *Server) metadataTopic(info *topicInfo, req *kmsg.MetadataRequest, view metadataView) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = strPtr(info.Name)
	mt.TopicID = info.ID
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = view.az.ops(acl.ResourceTopic, info.Name)
	}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(info.parts))
	replicas := map[int32][]int32{} // by leader: shared by its partitions
	for _, p := range info.parts {
		if p.Partition < 0 {
			continue
		}
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Partition
		mp.Leader, mp.LeaderEpoch = s.partitionLeader(p, view.zone)
		if !slices.ContainsFunc(view.brokers, func(n cluster.Node) bool { return n.ID == mp.Leader }) {
			// The leader does not serve the listener the client connected
			// on: Kafka's answer, which says what is wrong and which the
			// client retries.
			mp.ErrorCode, mp.Leader = kerr.ListenerNotFound.Code, -1
			if req.Version < 6 {
				mp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
		}
		rs, ok := replicas[mp.Leader]
		if !ok {
			rs = readReplicas(mp.Leader, view.brokers)
			if mp.Leader < 0 {
				rs = rs[1:]
			}
			replicas[mp.Leader] = rs
		}
		mp.Replicas = rs
		mp.ISR = rs
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// metadataBroker describes node n.
func metadataBroker(n cluster.Node) kmsg.MetadataResponseBroker {
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = n.ID
	b.Host = n.Host
	b.Port = n.Port
	if n.Rack != "" {
		b.Rack = strPtr(n.Rack)
	}
	return b
}

// maxTopicNameLength is Kafka's limit on topic names.
const maxTopicNameLength = 249

// checkTopicName applies Kafka's topic name rules.
func checkTopicName(name string) error {
	switch {
	case name == "":
		return errorf(kerr.InvalidTopicException, "topic name is empty")
	case name == "." || name == "..":
		return errorf(kerr.InvalidTopicException, "topic name %q is not allowed", name)
	case len(name) > maxTopicNameLength:
		return errorf(kerr.InvalidTopicException, "topic name is longer than %d characters", maxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errorf(kerr.InvalidTopicException, "topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}
