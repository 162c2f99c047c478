package kafka

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
)

// sessionFetch sends req with a session id and epoch at version v.
func sessionFetch(c *rawConn, req *kmsg.FetchRequest, v int16, id, epoch int32) (*kmsg.FetchResponse, map[int32]kmsg.FetchResponseTopicPartition) {
	c.t.Helper()
	req.SessionID, req.SessionEpoch = id, epoch
	resp, parts := c.fetch(req, v)
	got := map[int32]kmsg.FetchResponseTopicPartition{}
	for _, p := range parts {
		got[p.Partition] = p
	}
	return resp, got
}

// An incremental fetch names only what changed and gets back only what
// is new; epochs, forgotten topics and the end of a session work as in
// Kafka.
func TestFetchSessionIncremental(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "sess", 3, nil)
	c := s.dial(t)
	end0 := c.mustProduce("sess", 0, batchtest.Values(noProducer(1000), "a", "b")) + 2

	at := func(p int32, offset int64) fetchAt {
		return fetchAt{topic: "sess", partition: p, offset: offset, maxBytes: 1 << 20, epoch: -1}
	}
	resp, got := sessionFetch(c, fetchRequest(1<<20, at(0, 0), at(1, 0), at(2, 0)), 12, 0, 0)
	id := resp.SessionID
	if resp.ErrorCode != 0 || id == 0 || len(got) != 3 || len(got[0].RecordBatches) == 0 {
		t.Fatalf("full fetch: error %d, session %d, %d partitions", resp.ErrorCode, id, len(got))
	}

	// The client moves partition 0 past what it read: nothing is new.
	resp, got = sessionFetch(c, fetchRequest(1<<20, at(0, end0)), 12, id, 1)
	if resp.ErrorCode != 0 || resp.SessionID != id || len(got) != 0 {
		t.Fatalf("incremental fetch with nothing new: error %d, session %d, partitions %v", resp.ErrorCode, resp.SessionID, got)
	}
	// A record in partition 1: an empty incremental fetch returns it, and
	// it alone.
	c.mustProduce("sess", 1, batchtest.Values(noProducer(1000), "c"))
	resp, got = sessionFetch(c, fetchRequest(1<<20), 12, id, 2)
	if resp.ErrorCode != 0 || len(got) != 1 || len(decodeFetched(t, got[1].RecordBatches)) != 1 || got[1].HighWatermark != 1 {
		t.Fatalf("incremental fetch after a produce: error %d, partitions %v", resp.ErrorCode, got)
	}
	// The same epoch again is refused.
	if resp, _ = sessionFetch(c, fetchRequest(1<<20), 12, id, 2); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Errorf("replayed epoch: error %d, want INVALID_FETCH_SESSION_EPOCH", resp.ErrorCode)
	}
	// Forget partition 2, move partition 1 on: records produced to 2 no
	// longer come back.
	req := fetchRequest(1<<20, at(1, 1))
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.Partitions = "sess", []int32{2}
	req.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{ft}
	if resp, got = sessionFetch(c, req, 12, id, 3); resp.ErrorCode != 0 || len(got) != 0 {
		t.Fatalf("forget partition 2: error %d, partitions %v", resp.ErrorCode, got)
	}
	c.mustProduce("sess", 2, batchtest.Values(noProducer(1000), "d"))
	if resp, got = sessionFetch(c, fetchRequest(1<<20), 12, id, 4); resp.ErrorCode != 0 || len(got) != 0 {
		t.Fatalf("forgotten partition answered: error %d, partitions %v", resp.ErrorCode, got)
	}
	// Adding it back answers it at once: it is new to the session.
	if resp, got = sessionFetch(c, fetchRequest(1<<20, at(2, 0)), 12, id, 5); resp.ErrorCode != 0 || len(got) != 1 || len(decodeFetched(t, got[2].RecordBatches)) != 1 {
		t.Fatalf("partition added back: error %d, partitions %v", resp.ErrorCode, got)
	}
	// A session of names cannot go on by topic ids.
	if resp, _ = c.fetch(func() *kmsg.FetchRequest {
		r := fetchRequest(1 << 20)
		r.SessionID, r.SessionEpoch = id, 6
		return r
	}(), 13); resp.ErrorCode != kerr.FetchSessionTopicIDError.Code {
		t.Errorf("v13 on a v12 session: error %d, want FETCH_SESSION_TOPIC_ID_ERROR", resp.ErrorCode)
	}
	// Epoch -1 ends the session: a full answer without one, and the
	// session is gone.
	if resp, got = sessionFetch(c, fetchRequest(1<<20, at(0, 0)), 12, id, -1); resp.ErrorCode != 0 || resp.SessionID != 0 || len(got) != 1 {
		t.Fatalf("closing fetch: error %d, session %d, partitions %v", resp.ErrorCode, resp.SessionID, got)
	}
	if resp, _ = sessionFetch(c, fetchRequest(1<<20), 12, id, 6); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("closed session: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
	if n := s.sessions.len(); n != 0 {
		t.Errorf("%d sessions left after the only one closed", n)
	}
}

// A full cache gives a slot to a new session only for a session idle past
// the eviction time, or a smaller one; otherwise the client fetches
// without a session.
func TestFetchSessionEviction(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := startServer(t,
		func(c *Config) { c.FetchSessionCacheSlots, c.FetchSessionEviction = 1, time.Minute },
		func(s *Server) { s.sessions.now = clock })
	_, adm := s.clients(t)
	createTopic(t, adm, "ev", 3, nil)
	c := s.dial(t)
	at := func(p int32) fetchAt { return fetchAt{topic: "ev", partition: p, maxBytes: 1 << 20, epoch: -1} }
	full := func(parts ...fetchAt) int32 {
		t.Helper()
		resp, _ := sessionFetch(c, fetchRequest(1<<20, parts...), 12, 0, 0)
		if resp.ErrorCode != 0 {
			t.Fatalf("full fetch: error %d", resp.ErrorCode)
		}
		return resp.SessionID
	}
	a := full(at(0), at(1))
	if a == 0 {
		t.Fatal("no session in an empty cache")
	}
	if b := full(at(0)); b != 0 {
		t.Errorf("a smaller session took the only slot from a busy one")
	}
	cc := full(at(0), at(1), at(2))
	if cc == 0 {
		t.Fatal("a larger session did not take the slot of a smaller one")
	}
	if resp, _ := sessionFetch(c, fetchRequest(1<<20), 12, a, 1); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("evicted session: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if d := full(at(0)); d == 0 {
		t.Error("a session idle past the eviction time kept its slot")
	}
}

// franz-go uses fetch sessions by itself: a consumer of many partitions
// reads every record once while records keep arriving, and the node holds
// its session.
func TestFetchSessionFranzGo(t *testing.T) {
	s := startServer(t)
	cl, adm := s.clients(t)
	const partitions, rounds = 40, 5
	createTopic(t, adm, "many", partitions, nil)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("many"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx := testContext(t)
	seen := map[string]int{}
	want := 0
	for round := range rounds {
		// A few partitions get a record each round; the rest stay quiet.
		for p := int32(round); p < partitions; p += 7 {
			r := &kgo.Record{Topic: "many", Partition: p, Value: fmt.Appendf(nil, "%d/%d", round, p)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
			want++
		}
		for len(seen) < want {
			fs := consumer.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		}
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("record %s consumed %d times", v, n)
		}
	}
	if len(seen) != want {
		t.Errorf("consumed %d distinct records, want %d", len(seen), want)
	}
	if n := s.sessions.len(); n < 1 {
		t.Errorf("the node holds %d fetch sessions, want the consumer's", n)
	}
}
