package groups

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// topicResolver looks topics up once per request.
type topicResolver struct {
	c      *Coordinator
	ctx    context.Context
	byName map[string]resolved
	byID   map[uuid.UUID]resolved
}

type resolved struct {
	topic metastore.Topic
	code  int16 // UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID, ...
}

func (c *Coordinator) resolver(ctx context.Context) *topicResolver {
	return &topicResolver{c: c, ctx: ctx, byName: map[string]resolved{}, byID: map[uuid.UUID]resolved{}}
}

// name resolves a topic by name.
func (r *topicResolver) name(name string) resolved {
	if res, ok := r.byName[name]; ok {
		return res
	}
	t, err := r.c.topics.TopicByName(r.ctx, name)
	res := resolved{topic: t, code: r.c.lookupErrorCode(err, kerr.UnknownTopicOrPartition.Code)}
	r.byName[name] = res
	return res
}

// id resolves a topic by id (OffsetCommit and OffsetFetch v10+).
func (r *topicResolver) id(raw [16]byte) resolved {
	id := uuid.UUID(raw)
	if res, ok := r.byID[id]; ok {
		return res
	}
	t, err := r.c.topics.TopicByID(r.ctx, id)
	res := resolved{topic: t, code: r.c.lookupErrorCode(err, kerr.UnknownTopicID.Code)}
	r.byID[id] = res
	return res
}

// partition returns the error of a partition of a resolved topic.
func (res resolved) partition(p int32) int16 {
	if res.code != 0 {
		return res.code
	}
	if p < 0 || p >= res.topic.Partitions {
		return kerr.UnknownTopicOrPartition.Code
	}
	return 0
}

func (c *Coordinator) lookupErrorCode(err error, unknown int16) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, metastore.ErrUnknownTopic):
		return unknown
	}
	return c.storeErrorCode("topic_lookup", err)
}

// OffsetCommit stores committed offsets, in one metastore transaction, and
// answers once they are durable. Generation -1 with no member id commits
// outside group management, allowed while the group has no members;
// otherwise the member and generation must be current.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(code int16) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return resp
	}
	if !c.owns(req.Group) {
		return setAll(kerr.NotCoordinator.Code)
	}
	now := c.now()
	topics := c.resolver(ctx)
	var offsets []metastore.GroupOffset
	var codes []*int16 // of the partitions in offsets
	for i, t := range req.Topics {
		var res resolved
		if req.Version >= 10 {
			res = topics.id(t.TopicID)
		} else {
			res = topics.name(t.Topic)
		}
		for j, p := range t.Partitions {
			code := &resp.Topics[i].Partitions[j].ErrorCode
			if *code = res.partition(p.Partition); *code != 0 {
				continue
			}
			if p.Metadata != nil && len(*p.Metadata) > c.cfg.MaxMetadataSize {
				*code = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := metastore.GroupOffset{
				Topic: res.topic.Name, Partition: p.Partition, Offset: p.Offset,
				LeaderEpoch: p.LeaderEpoch, CommitTime: now,
			}
			if req.Version < 6 {
				o.LeaderEpoch = -1
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			if req.Version == 1 && p.Timestamp >= 0 {
				o.CommitTime = time.UnixMilli(p.Timestamp)
			}
			offsets = append(offsets, o)
			codes = append(codes, code)
		}
	}
	if len(offsets) == 0 {
		return resp
	}
	code, err := call(ctx, c, req.Group, func(g *group, reply chan<- int16) {
		g.commit(req.Generation, req.MemberID, req.InstanceID, offsets, reply)
	})
	if err != nil {
		code = errorCode(err)
	}
	for _, p := range codes {
		*p = code
	}
	return resp
}

// commit checks the committer's membership as Kafka does and queues the
// write; the reply follows the write.
func (g *group) commit(generation int32, memberID string, instanceID *string, offsets []metastore.GroupOffset, reply chan<- int16) {
	if code := g.unavailable(); code != 0 {
		reply <- code
		return
	}
	if instanceID != nil {
		if known, ok := g.static[*instanceID]; ok && known != memberID {
			reply <- kerr.FencedInstanceID.Code
			return
		}
	}
	cgCode, consumer := g.consumerCommitCheck(generation, memberID, offsets)
	switch {
	case consumer && cgCode != 0:
		reply <- cgCode
		return
	case consumer:
		// A consumer-protocol group: its member epochs are checked.
	case generation < 0 && g.state == Empty:
		// A commit outside group management: simple consumers, tools.
	case g.state == CompletingRebalance:
		reply <- kerr.RebalanceInProgress.Code
		return
	default:
		m := g.members[memberID]
		if m == nil {
			if !g.known && g.state == Empty {
				// A group nobody knows: the committer's generation is stale.
				reply <- kerr.IllegalGeneration.Code
			} else {
				reply <- kerr.UnknownMemberID.Code
			}
			return
		}
		if generation != g.generation {
			reply <- kerr.IllegalGeneration.Code
			return
		}
		m.deadline = g.c.now().Add(m.sessionTimeout)
	}
	c := g.c
	lease := g.lease
	g.enqueue(job{
		run: func(ctx context.Context) error {
			start := time.Now()
			err := c.store.CommitOffsets(ctx, lease, offsets)
			c.m.commitSecs.Observe(time.Since(start).Seconds())
			return err
		},
		after: func(err error) {
			if err == nil {
				g.known = true
				c.m.commits.Add(float64(len(offsets)))
			}
			reply <- c.storeErrorCode("commit_offsets", err)
		},
	})
}

// OffsetFetch returns committed offsets: of the partitions asked for, or of
// every partition when the topics are null (v2+). A partition without a
// commit, also in an unknown group, has offset -1 and no error. v8+ asks
// for several groups. RequireStable is ignored: there are no transactions.
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, c.fetchGroup(ctx, req.Version, rg))
		}
		return resp
	}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = req.Group
	if req.Topics != nil {
		rg.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
	}
	for _, t := range req.Topics {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = t.Topic, t.Partitions
		rg.Topics = append(rg.Topics, gt)
	}
	sg := c.fetchGroup(ctx, req.Version, rg)
	if sg.ErrorCode != 0 {
		if req.Version >= 2 {
			resp.ErrorCode = sg.ErrorCode
			return resp
		}
		// v0-v1 have no group error: every partition carries it.
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.Metadata, rp.ErrorCode = p, -1, kmsg.StringPtr(""), sg.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, t := range sg.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// fetchGroup answers one group of an OffsetFetch, in the v8+ form.
func (c *Coordinator) fetchGroup(ctx context.Context, version int16, rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = rg.Group
	if !c.owns(rg.Group) {
		sg.ErrorCode = kerr.NotCoordinator.Code
		return sg
	}
	if version >= 9 {
		if code := c.checkOffsetFetch(ctx, rg.Group, rg.MemberID, rg.MemberEpoch); code != 0 {
			sg.ErrorCode = code
			return sg
		}
	}
	byID := version >= 10
	topics := c.resolver(ctx)
	if rg.Topics == nil {
		offs, err := c.store.FetchOffsets(ctx, rg.Group, nil)
		if err != nil {
			sg.ErrorCode = c.storeErrorCode("fetch_offsets", err)
			return sg
		}
		for i := 0; i < len(offs); {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = offs[i].Topic
			if byID {
				res := topics.name(st.Topic)
				if res.code != 0 {
					// Deleted since: its offsets went with it.
					for i < len(offs) && offs[i].Topic == st.Topic {
						i++
					}
					continue
				}
				st.TopicID = res.topic.ID
			}
			for ; i < len(offs) && offs[i].Topic == st.Topic; i++ {
				st.Partitions = append(st.Partitions, fetchedPartition(offs[i]))
			}
			sg.Topics = append(sg.Topics, st)
		}
		return sg
	}

	names := make([]string, len(rg.Topics))
	codes := make([]int16, len(rg.Topics))
	for i, t := range rg.Topics {
		if byID {
			res := topics.id(t.TopicID)
			names[i], codes[i] = res.topic.Name, res.code
		} else {
			names[i] = t.Topic
		}
	}
	offs, err := c.store.FetchOffsets(ctx, rg.Group, names)
	if err != nil {
		sg.ErrorCode = c.storeErrorCode("fetch_offsets", err)
		return sg
	}
	committed := make(map[metastore.TopicPartition]metastore.GroupOffset, len(offs))
	for _, o := range offs {
		committed[metastore.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o
	}
	for i, t := range rg.Topics {
		st := kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic, st.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			o, ok := committed[metastore.TopicPartition{Topic: names[i], Partition: p}]
			if !ok || codes[i] != 0 {
				o = metastore.GroupOffset{Partition: p, Offset: -1, LeaderEpoch: -1}
			}
			rp := fetchedPartition(o)
			rp.ErrorCode = codes[i]
			st.Partitions = append(st.Partitions, rp)
		}
		sg.Topics = append(sg.Topics, st)
	}
	return sg
}

func fetchedPartition(o metastore.GroupOffset) kmsg.OffsetFetchResponseGroupTopicPartition {
	rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	rp.Partition = o.Partition
	rp.Offset = o.Offset
	rp.LeaderEpoch = o.LeaderEpoch
	rp.Metadata = kmsg.StringPtr(o.Metadata)
	return rp
}

// OffsetDelete deletes committed offsets of a group. A group with members
// keeps the offsets of topics its members subscribe to
// (GROUP_SUBSCRIBED_TO_TOPIC); a non-consumer group with members keeps all
// (NON_EMPTY_GROUP).
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if code := c.groupIDError(req.Group); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	topics := c.resolver(ctx)
	var parts []metastore.TopicPartition
	var codes []*int16
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	for i, t := range req.Topics {
		res := topics.name(t.Topic)
		for j, p := range t.Partitions {
			code := &resp.Topics[i].Partitions[j].ErrorCode
			if *code = res.partition(p.Partition); *code == 0 {
				parts = append(parts, metastore.TopicPartition{Topic: t.Topic, Partition: p.Partition})
				codes = append(codes, code)
			}
		}
	}
	type result struct {
		group int16
		parts []int16
	}
	res, err := call(ctx, c, req.Group, func(g *group, reply chan<- result) {
		g.deleteOffsets(parts, func(group int16, parts []int16) { reply <- result{group, parts} })
	})
	switch {
	case err != nil:
		resp.ErrorCode = errorCode(err)
	case res.group != 0:
		resp.ErrorCode = res.group
	default:
		for i, p := range codes {
			*p = res.parts[i]
		}
	}
	return resp
}

// deleteOffsets checks and queues an OffsetDelete; answer gets a group error
// or one code per partition.
func (g *group) deleteOffsets(parts []metastore.TopicPartition, answer func(group int16, parts []int16)) {
	if code := g.unavailable(); code != 0 {
		answer(code, nil)
		return
	}
	var subscribed map[string]bool // nil: every topic
	switch {
	case len(g.members) == 0:
		if !g.known {
			answer(kerr.GroupIDNotFound.Code, nil)
			return
		}
		subscribed = map[string]bool{}
	case g.protocolType != "consumer":
		answer(kerr.NonEmptyGroup.Code, nil)
		return
	default:
		subscribed = g.subscribedTopics()
	}
	codes := make([]int16, len(parts))
	var del []metastore.TopicPartition
	var delIdx []int
	for i, p := range parts {
		if subscribed == nil || subscribed[p.Topic] {
			codes[i] = kerr.GroupSubscribedToTopic.Code
			continue
		}
		del = append(del, p)
		delIdx = append(delIdx, i)
	}
	if len(del) == 0 {
		answer(0, codes)
		return
	}
	c := g.c
	lease := g.lease
	g.enqueue(job{
		run: func(ctx context.Context) error { return c.store.DeleteOffsets(ctx, lease, del) },
		after: func(err error) {
			code := c.storeErrorCode("delete_offsets", err)
			for _, i := range delIdx {
				codes[i] = code
			}
			answer(0, codes)
		},
	})
}

// subscribedTopics returns the topics the members subscribe to, from their
// consumer protocol metadata; nil when a member's metadata cannot be read,
// meaning any topic may be in use.
func (g *group) subscribedTopics() map[string]bool {
	topics := map[string]bool{}
	for _, m := range g.members {
		ts, ok := consumerTopics(metadataFor(m, g.protocol))
		if !ok {
			return nil
		}
		for _, t := range ts {
			topics[t] = true
		}
	}
	return topics
}

// consumerTopics decodes the topics of a consumer protocol subscription
// (ConsumerMemberMetadata), as sent by the member in JoinGroup.
func consumerTopics(metadata []byte) ([]string, bool) {
	var md kmsg.ConsumerMemberMetadata
	if err := md.ReadFrom(metadata); err != nil {
		return nil, false
	}
	return md.Topics, true
}
