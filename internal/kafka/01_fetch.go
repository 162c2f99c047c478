package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// Fetch v4-v18 (v13+ name topics by id: an unknown id is
// UNKNOWN_TOPIC_ID). v4 is the first version that carries v2 record
// batches, the only format stored.
//
//   - Each partition is read from its fetch offset with its
//     PartitionMaxBytes, and the response's MaxBytes bounds the total. The
//     first partition with data always returns at least one whole batch,
//     even one larger than either limit; after it, a partition returns the
//     whole batches that fit in what is left. Partitions are read
//     concurrently; what a read finds beyond the room left stays cached. A fetch offset inside a batch
//     returns that whole batch, as Kafka does: the client skips the records
//     before its offset.
//   - A topic the principal may not Read is TOPIC_AUTHORIZATION_FAILED on
//     every partition of it.
//   - When the records found are fewer than MinBytes and MaxWaitMillis > 0,
//     the fetch waits (concurrently with the connection's later requests)
//     until a watched partition's high watermark moves, then reads again,
//     until MinBytes or MaxWaitMillis (capped by Config.FetchMaxWait). An
//     error in any partition answers at once.
//   - An offset below the log start offset or above the high watermark is
//     OFFSET_OUT_OF_RANGE, with HighWatermark and LogStartOffset set.
//   - read_committed (IsolationLevel 1) reads stop at the last stable
//     offset, the first offset of the partition's oldest open transaction
//     (else the high watermark), which LastStableOffset reports; the
//     response lists the aborted transactions (producer id, first offset)
//     whose abort marker is at or after the fetch offset and whose first
//     offset is below the end of the batches returned, as Kafka does, and
//     a long poll waits for the last stable offset to move. Control
//     batches are returned like any other; clients skip them.
//     read_uncommitted responses report the high watermark as
//     LastStableOffset.
//   - CurrentLeaderEpoch (v9+) above the partition's epoch is
//     UNKNOWN_LEADER_EPOCH, below it FENCED_LEADER_EPOCH.
//   - v7+: incremental fetch sessions (KIP-227), see fetch_session.go.
//   - v11+: a partition this node should not serve to the client is
//     answered with PreferredReadReplica set to the node that should, and
//     no records (KIP-392): a reader-role node in the client's zone
//     (client.rack, else "zone=NAME" in the client id), or any live reader
//     when this node does not run the reader role. The client then fetches
//     from that node, which serves it (-1). Otherwise PreferredReadReplica
//     is -1. Partitions without records carry an empty (not null) records
//     field.
func init() {
	// v0-v3 answer in the old message formats, which Strata does not
	// convert to; they are advertised because librdkafka derives features
	// from overlapping ranges, and get UNSUPPORTED_FOR_MESSAGE_FORMAT.
	registerNeeding(kmsg.Fetch.Int16(), 0, 18, needReader, (*Server).handleFetch)
}

// fetchPart is one partition of a Fetch request.
type fetchPart struct {
	resp     *kmsg.FetchResponseTopicPartition
	batches  *roleapi.Batches // the partition's records, written from the cache
	topicID  uuid.UUID
	offset   int64
	maxBytes int32
	failed   bool  // answered before reading: an error, or a preferred read replica
	hwm      int64 // high watermark (last stable offset when committed) seen by the last read
	// committed: a read_committed read, up to the last stable offset.
	committed bool
}

func (s *Server) handleFetch(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.FetchRequest)
	if req.Version < 4 {
		return respond(oldFormatFetch(req))
	}
	plan, code := s.sessions.begin(req)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = code
		return respond(resp)
	}
	zone := cluster.ClientZone(req.Rack, r.clientID)
	az := s.authz(r)
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		resp := s.fetch(ctx, az, plan.req, zone)
		plan.finish(resp)
		return resp
	}}, nil
}

// fetch reads the request's partitions, waiting for MinBytes as allowed.
// zone is the client's zone, "" when it names none.
func (s *Server) fetch(ctx context.Context, az *authz, req *kmsg.FetchRequest, zone string) *fetchResponse {
	start := time.Now()
	resp := &fetchResponse{FetchResponse: req.ResponseKind().(*kmsg.FetchResponse)}
	parts := s.fetchPlan(ctx, az, req, resp, zone)
	wait := time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond
	if s.cfg.FetchMaxWait > 0 {
		wait = min(wait, s.cfg.FetchMaxWait)
	}
	deadline := start.Add(wait)
	var total int
	for {
		var done bool
		total, done = s.fetchRead(ctx, req, parts)
		remaining := time.Until(deadline)
		if done || total >= int(req.MinBytes) || remaining <= 0 || ctx.Err() != nil {
			break
		}
		watches := make([]roleapi.Watch, 0, len(parts))
		for _, fp := range parts {
			// Woken by records past what this read saw.
			watches = append(watches, roleapi.Watch{TopicID: fp.topicID, Partition: fp.resp.Partition, Offset: max(fp.offset, fp.hwm), Committed: fp.committed})
		}
		if len(watches) == 0 {
			break
		}
		s.reader.Wait(ctx, watches, remaining)
	}
	s.metrics.fetched.Add(float64(total))
	return resp
}

// fetchPlan lays out the response and finds each partition's topic,
// answering those that cannot be read.
func (s *Server) fetchPlan(ctx context.Context, az *authz, req *kmsg.FetchRequest, resp *fetchResponse, zone string) []fetchPart {
	n := 0
	for _, rt := range req.Topics {
		n += len(rt.Partitions)
	}
	parts := make([]fetchPart, 0, n)
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	resp.batches = make([][]roleapi.Batches, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		resp.batches[i] = make([]roleapi.Batches, len(rt.Partitions))
		*st = kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		info, terr := s.fetchTopic(ctx, az, rt, req.Version >= 13)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark = -1
			sp.LastStableOffset = -1
			sp.LogStartOffset = -1
			sp.PreferredReadReplica = -1
			sp.RecordBatches = []byte{}
			if req.IsolationLevel == 1 {
				sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			}
			fp := fetchPart{resp: sp, batches: &resp.batches[i][j], offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes,
				committed: req.IsolationLevel == readCommitted}
			err := terr
			if err == nil {
				epoch := int32(-1)
				if req.Version >= 9 {
					epoch = rp.CurrentLeaderEpoch
				}
				info, _, err = s.cachedPartition(ctx, info, rp.Partition, epoch)
				if topicWide(err) {
					terr = err
				}
			}
			switch {
			case err != nil:
				sp.ErrorCode, _ = s.dataErrorCode("Fetch", err)
				fp.failed = true
			case req.Version >= 11:
				fp.topicID = info.ID
				if id := s.preferredReadReplica(metastore.PartitionKey{TopicID: info.ID, Partition: rp.Partition}, zone); id >= 0 {
					// Answered now, without records: the client
					// moves to that node.
					sp.PreferredReadReplica = id
					fp.failed = true
					s.fetchRedirects.Inc()
				}
			default:
				fp.topicID = info.ID
			}
			parts = append(parts, fp)
		}
	}
	return parts
}

// fetchTopic finds a Fetch request's topic by name or, v13+, by id.
func (s *Server) fetchTopic(ctx context.Context, az *authz, rt kmsg.FetchRequestTopic, byID bool) (*topicInfo, error) {
	if !byID {
		if err := az.topicErr(acl.OpRead, rt.Topic); err != nil {
			return nil, err
		}
		return s.topics.topicByName(ctx, rt.Topic)
	}
	info, err := s.topics.topicByID(ctx, uuid.UUID(rt.TopicID))
	if errors.Is(err, metastore.ErrUnknownTopic) {
		return nil, errorf(kerr.UnknownTopicID, "unknown topic id %s", uuid.UUID(rt.TopicID))
	}
	if err == nil {
		err = az.topicErr(acl.OpRead, info.Name)
	}
	return info, err
}

// cachedPartition returns partition p of a cached topic after checking the
// client's leader epoch (-1: no check). A partition or an epoch the cached
// copy does not know makes it read the topic again, at most every
// staleAfter.
func (s *Server) cachedPartition(ctx context.Context, info *topicInfo, p, epoch int32) (*topicInfo, metastore.Partition, error) {
	part, ok := info.partition(p)
	if (!ok && p >= 0) || (ok && epoch > part.LeaderEpoch) {
		fresh, err := s.topics.refresh(ctx, info, staleAfter)
		if err != nil {
			return info, part, err
		}
		info = fresh
		part, ok = info.partition(p)
	}
	if !ok {
		return info, part, errorf(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", info.Name, p)
	}
	return info, part, checkLeaderEpoch(epoch, part)
}

// checkLeaderEpoch compares a client's current leader epoch (-1: none) with
// the partition's, as Kafka's KIP-320 fencing does.
func checkLeaderEpoch(epoch int32, p metastore.Partition) error {
	switch {
	case epoch < 0 || epoch == p.LeaderEpoch:
		return nil
	case epoch > p.LeaderEpoch:
		return errorf(kerr.UnknownLeaderEpoch, "leader epoch %d of partition %d is newer than %d", epoch, p.Partition, p.LeaderEpoch)
	default:
		return errorf(kerr.FencedLeaderEpoch, "leader epoch %d of partition %d is older than %d", epoch, p.Partition, p.LeaderEpoch)
	}
}

// fetchReadConcurrency bounds the partition reads of one fetch that run at
// once: a catch-up fetch waits for object store GETs and zstd decoding of
// many partitions, which overlap.
const fetchReadConcurrency = 8

type partRead struct {
	res roleapi.ReadResult
	err error
}

// fetchRead reads every readable partition once, filling the response, and
// returns the bytes of records found and whether the fetch must answer
// now: a partition failed, or records were left out for lack of room.
//
// The response's MaxBytes is shared evenly: each partition first reads up
// to its share (and its own limit), then the room left is shared by the
// partitions that had more to read. Taking the partitions in request order
// instead would let the first ones fill a catch-up consumer's every fetch
// while the last ones starve, and spread its reads over the whole backlog,
// which then no longer fits the cache. The reads of a pass run
// concurrently. The results are taken in request order within MaxBytes: a
// partition after the first with data keeps the whole batches that fit.
func (s *Server) fetchRead(ctx context.Context, req *kmsg.FetchRequest, parts []fetchPart) (total int, done bool) {
	budget := max(int64(req.MaxBytes), 0) // v3+; every version served has it
	var first []int
	for k := range parts {
		if !parts[k].failed {
			first = append(first, k)
		}
	}
	reads := make([]partRead, len(parts))
	limits := make([]int64, len(parts))
	offsets := make([]int64, len(parts))
	share := budget
	if len(first) > 0 {
		share = max(budget/int64(len(first)), 1)
	}
	for _, k := range first {
		offsets[k], limits[k] = parts[k].offset, min(int64(max(parts[k].maxBytes, 0)), share)
	}
	// A read returns at least one whole batch, however small its limit:
	// once the reads have found MaxBytes, the partitions not read yet are
	// skipped rather than read in full and dropped.
	if s.readParts(ctx, parts, first, offsets, limits, reads, budget) {
		done = true
	}

	// Second pass: the room left, for the partitions stopped by their share.
	left := budget
	var second []int
	for _, k := range first {
		rd := &reads[k]
		if rd.err != nil {
			continue
		}
		left -= int64(rd.res.Batches.Len())
		next, ok := rd.res.Batches.NextOffset()
		if ok && next < rd.res.LastStableOffset && limits[k] < int64(max(parts[k].maxBytes, 0)) {
			second = append(second, k)
			offsets[k] = next
		}
	}
	if len(second) > 0 {
		// Records were left out: answer now, whatever MinBytes says.
		done = true
	}
	if left > 0 && len(second) > 0 {
		room := second[:0:0]
		for _, k := range second {
			limits[k] = min(int64(max(parts[k].maxBytes, 0))-int64(reads[k].res.Batches.Len()), left/int64(len(second)))
			if limits[k] > 0 {
				room = append(room, k)
			}
		}
		more := make([]partRead, len(parts))
		s.readParts(ctx, parts, room, offsets, limits, more, left)
		for _, k := range room {
			// An error is met by the next fetch, from this offset.
			if more[k].err == nil {
				reads[k].res.Batches = reads[k].res.Batches.Append(more[k].res.Batches.Prefix(limits[k]))
				reads[k].res.HighWatermark = max(reads[k].res.HighWatermark, more[k].res.HighWatermark)
				reads[k].res.LastStableOffset = max(reads[k].res.LastStableOffset, more[k].res.LastStableOffset)
				reads[k].res.Aborted = mergeAborted(reads[k].res.Aborted, more[k].res.Aborted)
			}
		}
	}

	gotData := false
	for k := range parts {
		fp := &parts[k]
		if fp.failed {
			done = true
			continue
		}
		sp := fp.resp
		res, err := reads[k].res, reads[k].err
		sp.RecordBatches = []byte{}
		*fp.batches = roleapi.Batches{}
		if err != nil {
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			if errors.Is(err, metastore.ErrOffsetOutOfRange) {
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
			}
			sp.ErrorCode, _ = s.dataErrorCode("Fetch", err)
			done = true
			continue
		}
		sp.ErrorCode = 0
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
		fp.hwm = res.HighWatermark
		if fp.committed {
			fp.hwm = res.LastStableOffset
			sp.AbortedTransactions = abortedTransactions(res.Aborted)
		}
		recs := res.Batches
		if limit := min(int64(max(fp.maxBytes, 0)), budget); gotData && int64(recs.Len()) > limit {
			// Only the first partition with data may overflow: keep the
			// whole batches that fit in what is left.
			recs = recs.Prefix(limit)
			done = true
		}
		if recs.Len() == 0 {
			continue
		}
		gotData = true
		*fp.batches = recs
		budget = max(budget-int64(recs.Len()), 0)
		total += recs.Len()
	}
	return total, done
}

// readParts reads the partitions idx of parts, each from offsets[k] up to
// limits[k] bytes, into out[k], at most fetchReadConcurrency at once. Once
// the reads have returned budget bytes, the partitions not started yet are
// skipped (left empty); skipped reports whether any was. A panic in a read
// becomes that partition's error, as it would on the connection's own
// goroutine.
func (s *Server) readParts(ctx context.Context, parts []fetchPart, idx []int, offsets, limits []int64, out []partRead, budget int64) (skipped bool) {
	var taken atomic.Int64
	read := func(k int) {
		defer func() {
			if p := recover(); p != nil {
				out[k].err = fmt.Errorf("read panicked: %v", p)
			}
		}()
		fp := &parts[k]
		if fp.committed {
			out[k].res, out[k].err = s.reader.ReadCommitted(ctx, fp.topicID, fp.resp.Partition, offsets[k], int(limits[k]))
		} else {
			out[k].res, out[k].err = s.reader.ReadBatches(ctx, fp.topicID, fp.resp.Partition, offsets[k], int(limits[k]))
		}
		taken.Add(int64(out[k].res.Batches.Len()))
	}
	if len(idx) == 1 {
		read(idx[0])
		return false
	}
	// One metastore query per topic for the partitions whose cached
	// offsets are stale, rather than one per partition read.
	fresh := make([]roleapi.Watch, 0, len(idx))
	for _, k := range idx {
		fresh = append(fresh, roleapi.Watch{TopicID: parts[k].topicID, Partition: parts[k].resp.Partition})
	}
	s.reader.Freshen(ctx, fresh)
	sem := make(chan struct{}, fetchReadConcurrency)
	var wg sync.WaitGroup
	for _, k := range idx {
		// A partition with nothing past its fetch offset is answered from
		// the reader's cached state, without a goroutine or a read: most
		// partitions of a consumer at the end of a quiet topic.
		if fp := &parts[k]; offsets[k] == fp.offset {
			atEnd := s.reader.AtEnd
			if fp.committed {
				atEnd = s.reader.StableAtEnd
			}
			if res, ok := atEnd(fp.topicID, fp.resp.Partition, offsets[k]); ok {
				out[k].res = res
				continue
			}
		}
		sem <- struct{}{}
		if taken.Load() >= budget {
			// No room: only the offsets, which the response reports.
			<-sem
			skipped = true
			fp := &parts[k]
			if fp.committed {
				out[k].res.LastStableOffset, out[k].res.HighWatermark, out[k].res.LogStartOffset, out[k].err = s.reader.LastStable(ctx, fp.topicID, fp.resp.Partition)
			} else {
				out[k].res.HighWatermark, out[k].res.LogStartOffset, out[k].err = s.reader.Offsets(ctx, fp.topicID, fp.resp.Partition)
				out[k].res.LastStableOffset = out[k].res.HighWatermark
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			read(k)
		})
	}
	wg.Wait()
	return skipped
}

// oldFormatFetch answers a Fetch v0-v3, which expects message format v0/v1,
// with UNSUPPORTED_FOR_MESSAGE_FORMAT on every partition.
func oldFormatFetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = kerr.UnsupportedForMessageFormat.Code
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
