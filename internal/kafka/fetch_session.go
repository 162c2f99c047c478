package kafka

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Incremental fetch sessions (KIP-227). A consumer of many partitions
// sends, after one full fetch, only the partitions whose fetch position
// changed, and gets back only the partitions with something new: records,
// a moved high watermark or log start, or an error. Without sessions every
// fetch names and answers every partition, which for a consumer of 1,000
// quiet partitions is most of the bytes and much of the CPU of a fetch.
//
// A session lives on the node that created it, in memory: after a node
// restarts, or when the client moves to another node, the client's next
// incremental fetch gets FETCH_SESSION_ID_NOT_FOUND and it starts again
// with a full fetch, as it does against Kafka.
//
// The request's session id and epoch say what it is:
//
//   - epoch -1: a full fetch without a session (and the end of the session
//     named by a non-zero id);
//   - epoch 0: a full fetch that creates a session (ending the one named by
//     a non-zero id); the response carries the new session's id, or 0 when
//     the cache has no room;
//   - epoch > 0: an incremental fetch of session id; the epoch must be the
//     one after the previous request's (INVALID_FETCH_SESSION_EPOCH
//     otherwise) and the session must exist (FETCH_SESSION_ID_NOT_FOUND).
//     The request's partitions are added to the session or update their
//     fetch position, its forgotten topics leave the session, and the
//     fetch reads every partition of the session.
//
// The cache holds at most FetchSessionCacheSlots sessions. A new session
// takes the slot of the least recently used session idle for
// FetchSessionEviction, else of the smallest session if the new one has
// more partitions (a session saves more the more partitions it has), else
// it is not created and the client fetches without one.
type fetchSessions struct {
	slots    int
	eviction time.Duration
	now      func() time.Time

	mu   sync.Mutex
	byID map[int32]*fetchSession

	evictions atomic.Int64 // sessions that gave their slot to a new one
	refused   atomic.Int64 // sessions not created for want of a slot
}

// registerFetchSessionMetrics exports the session cache's size and churn.
func registerFetchSessionMetrics(reg prometheus.Registerer, fs *fetchSessions) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_kafka_fetch_sessions",
			Help: "Incremental fetch sessions (KIP-227) the node holds.",
		}, func() float64 { return float64(fs.len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "strata_kafka_fetch_session_evictions_total",
			Help: "Fetch sessions that gave their slot to a new session.",
		}, func() float64 { return float64(fs.evictions.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "strata_kafka_fetch_sessions_refused_total",
			Help: "Full fetches that asked for a session and got none, the cache being full of busier sessions.",
		}, func() float64 { return float64(fs.refused.Load()) }),
	)
}

func newFetchSessions(slots int, eviction time.Duration) *fetchSessions {
	return &fetchSessions{slots: slots, eviction: eviction, now: time.Now, byID: make(map[int32]*fetchSession)}
}

// sessionKey names a partition of a session: by topic id from Fetch v13 on,
// by name before.
type sessionKey struct {
	topicID   [16]byte
	topic     string
	partition int32
}

// fetchSession is one client's session. mu guards its partitions: the
// synchronous part of a Fetch updates them, the response (written later,
// concurrently with the connection's next requests) records what it sent.
type fetchSession struct {
	id      int32
	usesIDs bool // created by a v13+ request: partitions named by topic id

	mu       sync.Mutex
	epoch    int32 // the epoch the next incremental request must carry
	lastUsed time.Time
	parts    map[sessionKey]*sessionPart
	order    []sessionKey // insertion order, for the requests built from it
}

// sessionPart is a partition of a session: the client's last fetch
// position and what the last response said of it.
type sessionPart struct {
	topic   string
	topicID [16]byte
	req     kmsg.FetchRequestTopicPartition

	sent               bool // a response has carried the partition
	hwm, lso, logStart int64
	preferred          int32
}

// sessionPlan is what a Fetch request becomes once its session is known.
type sessionPlan struct {
	sess        *fetchSession
	incremental bool
	req         *kmsg.FetchRequest // what to read: the request, or the session's partitions
}

// begin resolves a Fetch request's session. A non-zero error code answers
// the whole request.
func (fs *fetchSessions) begin(req *kmsg.FetchRequest) (sessionPlan, int16) {
	plan := sessionPlan{req: req}
	if req.Version < 7 || fs.slots <= 0 {
		if req.Version >= 7 && req.SessionEpoch > 0 {
			return plan, kerr.FetchSessionIDNotFound.Code
		}
		return plan, 0
	}
	switch epoch := req.SessionEpoch; {
	case epoch == -1:
		if req.SessionID != 0 {
			fs.remove(req.SessionID)
		}
		return plan, 0
	case epoch == 0:
		if req.SessionID != 0 {
			fs.remove(req.SessionID)
		}
		plan.sess = fs.create(req)
		return plan, 0
	case epoch < -1:
		return plan, kerr.InvalidFetchSessionEpoch.Code
	}
	fs.mu.Lock()
	sess := fs.byID[req.SessionID]
	fs.mu.Unlock()
	if sess == nil {
		return plan, kerr.FetchSessionIDNotFound.Code
	}
	if sess.usesIDs != (req.Version >= 13) {
		return plan, kerr.FetchSessionTopicIDError.Code
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if req.SessionEpoch != sess.epoch {
		return plan, kerr.InvalidFetchSessionEpoch.Code
	}
	sess.epoch = nextEpoch(sess.epoch)
	sess.lastUsed = fs.now()
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := sessionKey{topicID: ft.TopicID, partition: p}
			if !sess.usesIDs {
				k = sessionKey{topic: ft.Topic, partition: p}
			}
			delete(sess.parts, k)
		}
	}
	sess.add(req)
	plan.sess, plan.incremental = sess, true
	plan.req = sess.request(req)
	return plan, 0
}

// nextEpoch is the epoch after e; it wraps to 1, 0 meaning a new session.
func nextEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// create makes a session of a full fetch's partitions, or returns nil when
// the cache has no room for it.
func (fs *fetchSessions) create(req *kmsg.FetchRequest) *fetchSession {
	size := 0
	for _, t := range req.Topics {
		size += len(t.Partitions)
	}
	now := fs.now()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.byID) >= fs.slots && !fs.evictFor(size, now) {
		fs.refused.Add(1)
		return nil
	}
	sess := &fetchSession{usesIDs: req.Version >= 13, epoch: 1, lastUsed: now, parts: make(map[sessionKey]*sessionPart, size)}
	for {
		// Ids are random so that one client cannot guess another's.
		sess.id = rand.Int32N(math.MaxInt32-1) + 1
		if fs.byID[sess.id] == nil {
			break
		}
	}
	sess.add(req)
	fs.byID[sess.id] = sess
	return sess
}

// evictFor frees a slot for a new session of size partitions, reporting
// whether it could. Called with fs.mu held.
func (fs *fetchSessions) evictFor(size int, now time.Time) bool {
	var stale, smallest *fetchSession
	var staleUsed time.Time
	smallestSize := 0
	for _, s := range fs.byID {
		s.mu.Lock()
		used, n := s.lastUsed, len(s.parts)
		s.mu.Unlock()
		if now.Sub(used) >= fs.eviction && (stale == nil || used.Before(staleUsed)) {
			stale, staleUsed = s, used
		}
		if smallest == nil || n < smallestSize {
			smallest, smallestSize = s, n
		}
	}
	switch {
	case stale != nil:
		delete(fs.byID, stale.id)
	case smallest != nil && size > smallestSize:
		delete(fs.byID, smallest.id)
	default:
		return false
	}
	fs.evictions.Add(1)
	return true
}

func (fs *fetchSessions) remove(id int32) {
	fs.mu.Lock()
	delete(fs.byID, id)
	fs.mu.Unlock()
}

// len is the number of sessions held.
func (fs *fetchSessions) len() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.byID)
}

// add puts the request's partitions into the session, or updates their
// fetch position. Called with s.mu held (or before s is shared).
func (s *fetchSession) add(req *kmsg.FetchRequest) {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			k := sessionKey{topicID: t.TopicID, partition: p.Partition}
			if !s.usesIDs {
				k = sessionKey{topic: t.Topic, partition: p.Partition}
			}
			if sp := s.parts[k]; sp != nil {
				sp.req = p
				continue
			}
			s.parts[k] = &sessionPart{topic: t.Topic, topicID: t.TopicID, req: p}
			s.order = append(s.order, k)
		}
	}
}

// request builds the Fetch request that reads every partition of the
// session, with the incremental request's limits. Called with s.mu held.
func (s *fetchSession) request(inc *kmsg.FetchRequest) *kmsg.FetchRequest {
	out := *inc
	out.Topics, out.ForgottenTopics = nil, nil
	// order keeps forgotten partitions until here, and a partition
	// forgotten and added again twice: keep each live one once.
	live := s.order[:0]
	seen := make(map[sessionKey]bool, len(s.parts))
	// One array holds every partition; each topic takes a run of it.
	all := make([]kmsg.FetchRequestTopicPartition, 0, len(s.parts))
	from := 0
	for _, k := range s.order {
		sp := s.parts[k]
		if sp == nil || seen[k] {
			continue
		}
		seen[k] = true
		live = append(live, k)
		n := len(out.Topics)
		if n == 0 || out.Topics[n-1].Topic != sp.topic || out.Topics[n-1].TopicID != sp.topicID {
			if n > 0 {
				out.Topics[n-1].Partitions = all[from:len(all):len(all)]
				from = len(all)
			}
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = sp.topic, sp.topicID
			out.Topics = append(out.Topics, t)
		}
		all = append(all, sp.req)
	}
	if n := len(out.Topics); n > 0 {
		out.Topics[n-1].Partitions = all[from:len(all):len(all)]
	}
	s.order = live
	return &out
}

// finish gives the response its session id and, for an incremental
// fetch, leaves out the partitions with nothing new since the last
// response; it records what the response says of each partition.
func (p sessionPlan) finish(resp *fetchResponse) {
	if p.sess == nil {
		return
	}
	resp.SessionID = p.sess.id
	s := p.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	topics := resp.Topics[:0]
	batches := resp.batches[:0]
	for ti := range resp.Topics {
		t := resp.Topics[ti]
		tb := resp.batches[ti]
		parts := t.Partitions[:0]
		pb := tb[:0]
		for pi := range t.Partitions {
			rp := t.Partitions[pi]
			k := sessionKey{topicID: t.TopicID, partition: rp.Partition}
			if !s.usesIDs {
				k = sessionKey{topic: t.Topic, partition: rp.Partition}
			}
			sp := s.parts[k]
			changed := true
			if sp != nil {
				changed = !sp.sent || tb[pi].Len() > 0 || len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 ||
					rp.HighWatermark != sp.hwm || rp.LastStableOffset != sp.lso || rp.LogStartOffset != sp.logStart ||
					rp.PreferredReadReplica != sp.preferred
				sp.sent, sp.hwm, sp.lso, sp.logStart, sp.preferred = true, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset, rp.PreferredReadReplica
			}
			if changed || !p.incremental {
				parts = append(parts, rp)
				pb = append(pb, tb[pi])
			}
		}
		if len(parts) > 0 || !p.incremental {
			t.Partitions = parts
			topics = append(topics, t)
			batches = append(batches, pb)
		}
	}
	resp.Topics, resp.batches = topics, batches
}
