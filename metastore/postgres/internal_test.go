package postgres

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
)

// roundTrips counts client-to-server flights on the connections it wraps: a
// write that follows a read (or comes first) starts a new round trip.
type roundTrips struct {
	mu       sync.Mutex
	n        int
	lastRead map[net.Conn]bool
}

func (r *roundTrips) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

type countingConn struct {
	net.Conn
	r *roundTrips
}

func (c countingConn) Write(b []byte) (int, error) {
	c.r.mu.Lock()
	if last, seen := c.r.lastRead[c.Conn]; last || !seen {
		c.r.n++
	}
	c.r.lastRead[c.Conn] = false
	c.r.mu.Unlock()
	return c.Conn.Write(b)
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.r.mu.Lock()
	c.r.lastRead[c.Conn] = true
	c.r.mu.Unlock()
	return n, err
}

// openCounted opens a store on a fresh database whose connections count
// their round trips.
func openCounted(tb testing.TB, maxConns int32) (*Store, *roundTrips) {
	tb.Helper()
	pcfg, err := pgxpool.ParseConfig(testenv.PostgresURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	pcfg.MaxConns = maxConns
	rt := &roundTrips{lastRead: map[net.Conn]bool{}}
	dialer := &net.Dialer{KeepAlive: 5 * time.Minute}
	pcfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, rt}, nil
	}
	s, err := newStore(context.Background(), pcfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s, rt
}

// benchSegment builds a segment with one chunk on each of the first n
// partitions of topic; with producers, each chunk also carries the next
// batch of an idempotent producer of its own.
func benchSegment(topic uuid.UUID, n int, round int, producers []int64) metastore.SegmentSpec {
	seg := metastore.SegmentSpec{ObjectKey: fmt.Sprintf("%s/%d/%d", uuid.NewString()[:8], n, round), ObjectSize: int64(n) * 4096}
	for p := range n {
		batches := []metastore.BatchMeta{{OffsetCount: 10, MaxTimestamp: int64(round), ProducerID: metastore.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}}
		if producers != nil {
			batches = append(batches, metastore.BatchMeta{OffsetCount: 5, MaxTimestamp: int64(round), ProducerID: producers[p], BaseSequence: int32(round * 5)})
		}
		seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{
			TopicID: topic, Partition: int32(p), Start: int64(p) * 4096, Length: 4096, RawLength: 8192, Batches: batches,
		})
	}
	return seg
}

func TestCommitTakesTwoRoundTrips(t *testing.T) {
	ctx := t.Context()
	s, rt := openCounted(t, 1) // one connection: its prepared statements are reused
	tp, err := s.CreateTopic(ctx, "round-trips", 1024, nil)
	if err != nil {
		t.Fatal(err)
	}
	producers := make([]int64, 1024)
	for i := range producers {
		if producers[i], err = s.AllocateProducerID(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The first commit on a connection also prepares its statements.
	before := rt.count()
	if _, err := s.CommitSegment(ctx, benchSegment(tp.ID, 1, 0, producers)); err != nil {
		t.Fatal(err)
	}
	if got := rt.count() - before; got > 4 {
		t.Errorf("first commit on a connection took %d round trips, want at most 4", got)
	}
	for round, n := range []int{1, 2, 64, 1024, 1024, 7} {
		for _, withProducers := range []bool{false, true} {
			var pids []int64
			if withProducers {
				pids = producers
			}
			before := rt.count()
			res, err := s.CommitSegment(ctx, benchSegment(tp.ID, n, round+1, pids))
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			got := rt.count() - before
			t.Logf("commit of %d partitions (producers %v): %d round trips", n, withProducers, got)
			if got != 2 {
				t.Errorf("commit of %d partitions (producers %v) took %d round trips, want 2", n, withProducers, got)
			}
		}
	}
	// A commit that fails after locking costs the rollback on top.
	seg := benchSegment(tp.ID, 3, 100, nil)
	seg.ObjectKey = "duplicate-object"
	if _, err := s.CommitSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitSegment(ctx, seg); err == nil {
		t.Fatal("second commit of one object succeeded")
	}
	// The connection came back to the pool usable.
	if _, err := s.CommitSegment(ctx, benchSegment(tp.ID, 3, 101, nil)); err != nil {
		t.Fatalf("commit after a failed one: %v", err)
	}
}

// BenchmarkCommitSegment commits segments of 1, 64 and 1024 partitions, one
// after the other, from one goroutine.
func BenchmarkCommitSegment(b *testing.B) {
	for _, n := range []int{1, 64, 1024} {
		for _, idem := range []bool{false, true} {
			name := fmt.Sprintf("partitions=%d", n)
			if idem {
				name += "/idempotent"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				s, rt := openCounted(b, 4)
				tp, err := s.CreateTopic(ctx, "bench", int32(n), nil)
				if err != nil {
					b.Fatal(err)
				}
				var pids []int64
				if idem {
					for range n {
						id, err := s.AllocateProducerID(ctx)
						if err != nil {
							b.Fatal(err)
						}
						pids = append(pids, id)
					}
				}
				segs := make([]metastore.SegmentSpec, 0, 1024)
				round := 0
				start, trips := time.Now(), rt.count()
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					if len(segs) == 0 {
						for range cap(segs) {
							segs = append(segs, benchSegment(tp.ID, n, round, pids))
							round++
						}
					}
					seg := segs[0]
					segs = segs[1:]
					b.StartTimer()
					if _, err := s.CommitSegment(ctx, seg); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
				b.ReportMetric(float64(rt.count()-trips)/float64(b.N), "roundtrips/op")
			})
		}
	}
}

func flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestRetry(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{logger: slog.New(slog.DiscardHandler), metrics: m}
	deadlock := &pgconn.PgError{Code: pgerrcode.DeadlockDetected}
	serialization := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: pgerrcode.SerializationFailure})
	calls := 0
	err = s.retry(t.Context(), "op", func() error {
		calls++
		switch calls {
		case 1:
			return deadlock
		case 2:
			return serialization
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("retry = %v after %d calls, want success on the third", err, calls)
	}
	calls = 0
	err = s.retry(t.Context(), "op", func() error { calls++; return deadlock })
	if !errors.Is(err, deadlock) || calls != maxAttempts {
		t.Errorf("retry = %v after %d calls, want the deadlock after %d", err, calls, maxAttempts)
	}
	calls = 0
	other := &pgconn.PgError{Code: pgerrcode.UniqueViolation}
	err = s.retry(t.Context(), "op", func() error { calls++; return other })
	if !errors.Is(err, other) || calls != 1 {
		t.Errorf("unique violation retried: %v after %d calls", err, calls)
	}
}

// lossyConn, once armed with n, loses the server's answer to the n-th
// write from then: it lets the server read and run what was written, then
// drops the answer and closes, as a network fault would.
type lossyConn struct {
	net.Conn
	writes *atomic.Int32
	lose   bool
}

func (c *lossyConn) Write(b []byte) (int, error) {
	if c.writes.Load() > 0 && c.writes.Add(-1) == 0 {
		c.lose = true
	}
	return c.Conn.Write(b)
}

func (c *lossyConn) Read(b []byte) (int, error) {
	if c.lose {
		_, _ = c.Conn.Read(b) // the server has run the batch when it answers
		c.Conn.Close()
		return 0, io.ErrUnexpectedEOF
	}
	return c.Conn.Read(b)
}

// TestCommitSurvivesLostAnswerToCommit: when the connection breaks after
// COMMIT reached the server, the commit's outcome is unknown to the
// client. Reporting it as failed made producers retry records that were
// stored: duplicates for every producer that is not idempotent. The store
// finds out what happened and answers with the committed offsets.
func TestCommitSurvivesLostAnswerToCommit(t *testing.T) {
	ctx := t.Context()
	pcfg, err := pgxpool.ParseConfig(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	pcfg.MaxConns = 1
	dialer := &net.Dialer{}
	pcfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &lossyConn{Conn: c, writes: &writes}, nil
	}
	s, err := newStore(ctx, pcfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	tp, err := s.CreateTopic(ctx, "lost-commit", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A first commit prepares the statements on the one connection; the
	// next one takes two round trips, and the second ends with COMMIT.
	if _, err := s.CommitSegment(ctx, benchSegment(tp.ID, 2, 0, nil)); err != nil {
		t.Fatal(err)
	}
	writes.Store(2)
	res, err := s.CommitSegment(ctx, benchSegment(tp.ID, 2, 1, nil))
	if writes.Load() != 0 {
		t.Fatal("the commit's answer was not lost: the test did not run")
	}
	if err != nil {
		t.Fatalf("commit whose answer was lost: %v", err)
	}
	for p := range int32(2) {
		part, err := s.Partition(ctx, tp.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		if part.NextOffset != 20 || res[p].Batches[0].BaseOffset != 10 {
			t.Fatalf("partition %d: next offset %d, reported base %d; want 20 and 10", p, part.NextOffset, res[p].Batches[0].BaseOffset)
		}
	}
	// The store goes on.
	if res, err := s.CommitSegment(ctx, benchSegment(tp.ID, 2, 2, nil)); err != nil || res[1].Batches[0].BaseOffset != 20 {
		t.Fatalf("next commit: %v", err)
	}
}
