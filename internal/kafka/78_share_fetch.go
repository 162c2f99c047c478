package kafka

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/internal/share"
	"github.com/stratalog/strata/metastore"
)

// ShareFetch v1-v2 (KIP-932, KIP-1206; v2 adds renew acknowledgements,
// KIP-1222): acquires records of a share group's partitions for a member,
// through its share session, with the acknowledgements it piggybacks.
// The acknowledgements and the acquisitions of all the request's
// partitions are one metastore transaction, before the answer. A fetch
// that this node's recent view says would find nothing waits (for new
// records, a release on this node, or a lock running out, up to
// MaxWaitMillis) before its transaction, so that an idle member costs
// the metastore little; a fetch carrying acknowledgements is answered
// without waiting. Any node serves any share partition: the metastore
// orders the nodes' transactions. Read on the group and on each topic,
// as Kafka.
func init() {
	registerNeeding(kmsg.ShareFetch.Int16(), 1, 2, needReader, (*Server).handleShareFetch)
}

// shareDefaultMaxRecords is KIP-1206's default for a request without
// MaxRecords.
const shareDefaultMaxRecords = 500

// shareMaxRecordsCap bounds the records one ShareFetch acquires, whatever
// it asks, and so the bytes it reads.
const shareMaxRecordsCap = 10000

func (s *Server) handleShareFetch(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ShareFetchRequest)
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	fail := func(code *kerr.Error, msg string) (Reply, error) {
		resp.ErrorCode, resp.ErrorMessage = code.Code, strPtr(msg)
		return respond(resp)
	}
	group, member := strOr(req.GroupID), strOr(req.MemberID)
	az := s.authz(r)
	if !az.group(acl.OpRead, group) {
		return fail(kerr.GroupAuthorizationFailed, "not authorized to read the group")
	}
	if member == "" || len(member) > 36 {
		return fail(kerr.InvalidRequest, "the member id must have 1 to 36 characters")
	}
	renew := req.Version >= 2 && req.IsRenewAck
	maxType := share.AckReject
	if renew {
		maxType = share.AckRenew
		if req.MaxBytes != 0 || req.MinBytes != 0 || req.MaxRecords != 0 || req.MaxWaitMillis != 0 {
			return fail(kerr.InvalidRequest, "a renewing fetch asks for no records")
		}
	}
	var add, forget []tp
	acks := map[tp][]share.Ack{}
	ackErr := map[tp]int16{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			k := tp{uuid.UUID(t.TopicID), p.Partition}
			add = append(add, k)
			if len(p.AcknowledgementBatches) == 0 {
				continue
			}
			as := toAcks(p.AcknowledgementBatches, func(b kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) (int64, int64, []int8) {
				return b.FirstOffset, b.LastOffset, b.AcknowledgeTypes
			})
			if err := share.CheckAcks(as, maxType); err != nil {
				ackErr[k] = kerr.InvalidRequest.Code
				continue
			}
			acks[k] = as
		}
	}
	for _, t := range req.ForgottenTopicsData {
		for _, p := range t.Partitions {
			forget = append(forget, tp{uuid.UUID(t.TopicID), p})
		}
	}
	if req.ShareSessionEpoch == 0 && (len(acks) > 0 || len(ackErr) > 0) {
		return fail(kerr.InvalidRequest, "a new share session carries no acknowledgements")
	}
	sess, added, code := s.share.session(r.conn, group, member, req.ShareSessionEpoch, add, forget, true)
	if code != 0 {
		resp.ErrorCode = code
		return respond(resp)
	}
	// The topics' Read, checked now (the principal of this request).
	readable := map[uuid.UUID]bool{}
	for k := range sess.parts {
		if _, ok := readable[k.topic]; !ok {
			readable[k.topic] = az.topicByRef(context.Background(), acl.OpRead, "", k.topic)
		}
	}
	for k := range acks {
		if _, ok := readable[k.topic]; !ok {
			readable[k.topic] = az.topicByRef(context.Background(), acl.OpRead, "", k.topic)
		}
	}
	closing := req.ShareSessionEpoch == -1
	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = shareDefaultMaxRecords
	}
	maxRecords = min(maxRecords, shareMaxRecordsCap)
	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if s.cfg.FetchMaxWait > 0 {
		maxWait = min(maxWait, s.cfg.FetchMaxWait)
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		f := &shareFetch{s: s, group: group, member: member, resp: resp, readable: readable}
		for k, c := range ackErr {
			f.out(k).AcknowledgeErrorCode = c
		}
		for k := range added {
			f.out(k)
		}
		parts := map[tp]*sharePart{}
		get := func(k tp) *sharePart {
			if p, ok := parts[k]; ok {
				return p
			}
			p := &sharePart{key: metastore.SharePartitionKey{Group: group, TopicID: k.topic, Partition: k.part}}
			parts[k] = p
			return p
		}
		for k, as := range acks {
			if !readable[k.topic] {
				f.out(k).AcknowledgeErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
			get(k).acks = as
		}
		if closing {
			for k := range sess.parts {
				if readable[k.topic] {
					get(k).release = true
				}
			}
		} else if !renew {
			for k := range sess.parts {
				if !readable[k.topic] {
					f.out(k).ErrorCode = kerr.TopicAuthorizationFailed.Code
					continue
				}
				get(k).fetch = true
			}
		}
		f.run(ctx, parts, sess.epoch, maxRecords, maxWait, len(acks) > 0 || closing || renew)
		return resp
	}}, nil
}

// strOr is *s, or "" for nil.
func strOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// shareFetch builds one ShareFetch response.
type shareFetch struct {
	s        *Server
	group    string
	member   string
	resp     *kmsg.ShareFetchResponse
	readable map[uuid.UUID]bool
	idx      map[tp]int
	topics   map[uuid.UUID]int
}

// out returns the response's entry for k, adding it.
func (f *shareFetch) out(k tp) *kmsg.ShareFetchResponseTopicPartition {
	if f.idx == nil {
		f.idx, f.topics = map[tp]int{}, map[uuid.UUID]int{}
	}
	ti, ok := f.topics[k.topic]
	if !ok {
		ti = len(f.resp.Topics)
		f.topics[k.topic] = ti
		t := kmsg.NewShareFetchResponseTopic()
		t.TopicID = k.topic
		f.resp.Topics = append(f.resp.Topics, t)
	}
	t := &f.resp.Topics[ti]
	if pi, ok := f.idx[k]; ok {
		return &t.Partitions[pi]
	}
	p := kmsg.NewShareFetchResponseTopicPartition()
	p.Partition = k.part
	p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
	f.idx[k] = len(t.Partitions)
	t.Partitions = append(t.Partitions, p)
	return &t.Partitions[len(t.Partitions)-1]
}

func (f *shareFetch) run(ctx context.Context, parts map[tp]*sharePart, epoch int32, maxRecords int, maxWait time.Duration, answerNow bool) {
	ss := f.s.share
	cfg, err := ss.config(ctx, f.group)
	if err != nil {
		f.resp.ErrorCode, f.resp.ErrorMessage = f.s.errorCodeMessage("ShareFetch", err)
		return
	}
	f.resp.AcquisitionLockTimeoutMillis = int32(cfg.lim.LockMillis)
	// The partitions in a fixed order, turned by the session epoch so
	// that no partition always comes first for maxRecords.
	var order []tp
	for k := range parts {
		order = append(order, k)
	}
	sortTPs(order)
	if n := len(order); n > 1 {
		rot := int(uint32(epoch)) % n
		order = append(order[rot:], order[:rot]...)
	}
	var list, fetching []*sharePart
	for _, k := range order {
		sp := parts[k]
		if sp.fetch {
			hwm, start, err := f.s.reader.Offsets(ctx, k.topic, k.part)
			if err != nil {
				sp.fetch = false
				code, msg := f.s.dataErrorCode("ShareFetch", err)
				o := f.out(k)
				o.ErrorCode, o.ErrorMessage = code, msg
				if sp.acks == nil {
					continue
				}
			} else {
				sp.hwm, sp.start = hwm, start
				fetching = append(fetching, sp)
			}
		}
		list = append(list, sp)
	}
	if !answerNow && len(fetching) > 0 && maxWait > 0 {
		f.wait(ctx, fetching, cfg.lim, maxWait)
		for _, sp := range fetching {
			if hwm, start, err := f.s.reader.Offsets(ctx, sp.key.TopicID, sp.key.Partition); err == nil {
				sp.hwm, sp.start = hwm, start
			}
		}
		if idle, _ := ss.idle(fetching, cfg.lim); idle && len(list) == len(fetching) {
			return // nothing to acquire, nothing to acknowledge
		}
	}
	if err := ss.apply(ctx, f.group, f.member, list, maxRecords); err != nil {
		code, msg := f.s.errorCodeMessage("ShareFetch", err)
		for _, sp := range list {
			k := tp{sp.key.TopicID, sp.key.Partition}
			if sp.acks != nil {
				f.out(k).AcknowledgeErrorCode = code
			}
			if sp.fetch {
				o := f.out(k)
				o.ErrorCode, o.ErrorMessage = code, msg
			}
		}
		return
	}
	for _, sp := range list {
		k := tp{sp.key.TopicID, sp.key.Partition}
		if sp.acks != nil {
			f.out(k).AcknowledgeErrorCode = shareAckCode(sp.ackErr)
		}
		if sp.err != nil {
			o := f.out(k)
			o.ErrorCode, o.ErrorMessage = f.s.errorCodeMessage("ShareFetch", sp.err)
			continue
		}
		if len(sp.runs) == 0 {
			continue
		}
		o := f.out(k)
		recs, err := f.s.share.readRange(ctx, k, sp.runs[0].First, sp.runs[len(sp.runs)-1].Last)
		if err != nil && len(recs) == 0 {
			// The records stay acquired until their lock runs out, then
			// go to a member again.
			o.ErrorCode, o.ErrorMessage = f.s.dataErrorCode("ShareFetch", err)
			continue
		}
		o.Records = recs
		for _, r := range sp.runs {
			a := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			a.FirstOffset, a.LastOffset, a.DeliveryCount = r.First, r.Last, r.DeliveryCount
			o.AcquiredRecords = append(o.AcquiredRecords, a)
		}
	}
}

// wait waits until a share partition may have records to acquire: new
// records, a release on this node, a lock running out, or maxWait.
func (f *shareFetch) wait(ctx context.Context, parts []*sharePart, lim share.Limits, maxWait time.Duration) {
	ss := f.s.share
	idle, next := ss.idle(parts, lim)
	if !idle {
		return
	}
	d := maxWait
	if !next.IsZero() {
		d = min(d, time.Until(next)+time.Millisecond)
	}
	if d <= 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	wake := ss.wakeChan()
	go func() {
		select {
		case <-wake:
			cancel()
		case <-wctx.Done():
		}
	}()
	watches := make([]roleapi.Watch, 0, len(parts))
	for _, sp := range parts {
		end := ss.hintEnd(sp.key)
		if end < 0 {
			end = sp.hwm
		}
		watches = append(watches, roleapi.Watch{TopicID: sp.key.TopicID, Partition: sp.key.Partition, Offset: end})
	}
	f.s.reader.Wait(wctx, watches, d)
}

// shareReadRounds bounds the reads of one share partition's acquired
// records.
const shareReadRounds = 16

// readRange returns the record batches holding the offsets first..last:
// every acquired record must be in the response, since the client
// acknowledges an acquired offset it was not sent as a gap (archived).
func (ss *shareServer) readRange(ctx context.Context, k tp, first, last int64) ([]byte, error) {
	var out []byte
	off := first
	for range shareReadRounds {
		if off > last {
			break
		}
		res, err := ss.s.reader.ReadBatches(ctx, k.topic, k.part, off, 1<<20)
		if err != nil {
			return out, err
		}
		next, ok := res.Batches.NextOffset()
		if !ok || next <= off {
			break
		}
		out = res.Batches.AppendTo(out)
		off = next
	}
	return out, nil
}

func sortTPs(ks []tp) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && lessTP(ks[j], ks[j-1]); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

func lessTP(a, b tp) bool {
	for i := range a.topic {
		if a.topic[i] != b.topic[i] {
			return a.topic[i] < b.topic[i]
		}
	}
	return a.part < b.part
}
