package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stratalog/strata/metastore"
)

// A segment commit is one transaction in two round trips, whatever the
// number of partitions:
//
//  1. BEGIN, lock the segment's partition rows in metastore.PartitionKeys
//     order, and load the state of its idempotent producers;
//  2. after metastore.PlanCommit has run in Go: insert the object row, move
//     the partitions' next offsets, insert the chunk rows, upsert the
//     producer states, NOTIFY, COMMIT.
//
// The object row is a plain INSERT: when its key has a row already, the
// commit fails on the primary key. That row is an earlier commit's, or the
// orphan collection's claim (CompactionStore.ClaimOrphans), whose object is
// deleted or about to be.
//
// Each round trip is one pgx batch (a pipeline with a single Sync); the
// per-partition rows travel as arrays expanded by unnest, so the statements
// are the same for every segment and stay prepared on each connection.
// pgx.BeginFunc would cost a round trip of its own for BEGIN, so the
// transaction is opened inside the first batch instead.

const lockPartitionsSQL = `
SELECT p.topic_id, p.partition, p.next_offset, p.log_start_offset, p.leader_node, p.leader_epoch, p.max_timestamp
FROM unnest($1::uuid[], $2::integer[]) WITH ORDINALITY AS k(topic_id, partition, ord)
JOIN partitions p ON p.topic_id = k.topic_id AND p.partition = k.partition
ORDER BY k.ord
FOR UPDATE OF p`

const loadProducersSQL = `
SELECT s.producer_id, s.topic_id, s.partition, s.epoch, s.recent::text
FROM unnest($1::bigint[], $2::uuid[], $3::integer[]) AS k(producer_id, topic_id, partition)
JOIN producer_state s ON s.producer_id = k.producer_id AND s.topic_id = k.topic_id AND s.partition = k.partition`

const loadRegisteredSQL = `SELECT producer_id FROM producers WHERE producer_id = ANY($1::bigint[])`

const insertObjectSQL = `INSERT INTO objects (key, size, level) VALUES ($1, $2, 0)`

const updatePartitionsSQL = `
UPDATE partitions p SET next_offset = u.next_offset, max_timestamp = u.max_timestamp
FROM unnest($1::uuid[], $2::integer[], $3::bigint[], $4::bigint[]) AS u(topic_id, partition, next_offset, max_timestamp)
WHERE p.topic_id = u.topic_id AND p.partition = u.partition`

const insertChunksSQL = `
INSERT INTO chunks (topic_id, partition, base_offset, end_offset, object_key, level, start, length,
	raw_length, batch_count, max_timestamp, max_timestamp_run, skip)
SELECT u.topic_id, u.partition, u.base_offset, u.end_offset, $1, 0, u.start, u.length,
	u.raw_length, u.batch_count, u.max_timestamp, u.max_timestamp_run, u.skip::integer[]
FROM unnest($2::uuid[], $3::integer[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
	$8::bigint[], $9::integer[], $10::bigint[], $11::bigint[], $12::text[])
	AS u(topic_id, partition, base_offset, end_offset, start, length,
		raw_length, batch_count, max_timestamp, max_timestamp_run, skip)`

const upsertProducersSQL = `
INSERT INTO producer_state (producer_id, topic_id, partition, epoch, recent, updated_at)
SELECT u.producer_id, u.topic_id, u.partition, u.epoch, u.recent::jsonb, now()
FROM unnest($1::bigint[], $2::uuid[], $3::integer[], $4::smallint[], $5::text[])
	AS u(producer_id, topic_id, partition, epoch, recent)
ON CONFLICT (producer_id, topic_id, partition)
DO UPDATE SET epoch = excluded.epoch, recent = excluded.recent, updated_at = excluded.updated_at`

const notifySQL = `SELECT pg_notify('` + NotifyChannel + `', p) FROM unnest($1::text[]) AS p`

// CommitSegment implements metastore.Store.
func (s *Store) CommitSegment(ctx context.Context, seg metastore.SegmentSpec) (_ []metastore.ChunkResult, err error) {
	defer s.metrics.Observe("commit_segment", time.Now(), &err)
	start := time.Now()
	pkeys := metastore.PartitionKeys(seg)
	prkeys := metastore.ProducerKeys(seg)
	var results []metastore.ChunkResult
	err = s.retry(ctx, "commit_segment", func() error {
		var err error
		results, err = s.commitOnce(ctx, seg, pkeys, prkeys, nil)
		return err
	})
	s.metrics.CommitSeconds.Observe(time.Since(start).Seconds())
	if isObjectKeyTaken(err) {
		err = s.objectKeyTaken(ctx, seg.ObjectKey, err)
	}
	if err != nil {
		return nil, fmt.Errorf("commit segment %s: %w", seg.ObjectKey, err)
	}
	return results, nil
}

// isObjectKeyTaken reports whether err is the failure of the objects
// insert on its primary key.
func isObjectKeyTaken(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "objects_pkey"
}

// objectKeyTaken says who holds the key a commit failed on: the orphan
// collection (metastore.ErrObjectClaimed) or an earlier commit
// (metastore.ErrObjectExists).
func (s *Store) objectKeyTaken(ctx context.Context, key string, err error) error {
	var level int16
	if qerr := s.pool.QueryRow(ctx, `SELECT level FROM objects WHERE key = $1`, key).Scan(&level); qerr != nil {
		return fmt.Errorf("%w (and reading the row that holds the key: %w)", err, qerr)
	}
	if level == metastore.ClaimedLevel {
		return metastore.ErrObjectClaimed
	}
	return metastore.ErrObjectExists
}

// commitOnce commits a segment in one transaction of two round trips.
// With tw, it also ends a transaction in it (EndTransaction): the
// transaction row is locked and its version checked in the first round
// trip, and written with the group offsets in the second.
func (s *Store) commitOnce(ctx context.Context, seg metastore.SegmentSpec, pkeys []metastore.PartitionKey, prkeys []metastore.ProducerKey, tw *txnWrite) (_ []metastore.ChunkResult, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if conn == nil {
			return
		}
		if err != nil {
			rollback(ctx, conn)
		}
		conn.Release()
	}()

	// Round trip 1: lock and load.
	topicIDs := make([]uuid.UUID, len(pkeys))
	partNums := make([]int32, len(pkeys))
	for i, k := range pkeys {
		topicIDs[i], partNums[i] = k.TopicID, k.Partition
	}
	prIDs := make([]int64, len(prkeys))
	prTopics := make([]uuid.UUID, len(prkeys))
	prParts := make([]int32, len(prkeys))
	for i, k := range prkeys {
		prIDs[i], prTopics[i], prParts[i] = k.ProducerID, k.TopicID, k.Partition
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockPartitionsSQL, topicIDs, partNums)
	b.Queue(loadProducersSQL, prIDs, prTopics, prParts)
	b.Queue(loadRegisteredSQL, distinct(prIDs))
	tw.queueLock(b)
	br := conn.SendBatch(ctx, b)
	parts, maxTS, producers, registered, err := readState(br, len(pkeys), len(prkeys))
	if err == nil {
		err = tw.readLock(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	plan := metastore.PlanCommit(seg, parts, producers, registered, time.Now().UnixMilli())

	// Round trip 2: write and commit.
	b = &pgx.Batch{}
	if tw == nil || seg.ObjectKey != "" {
		b.Queue(insertObjectSQL, seg.ObjectKey, seg.ObjectSize)
	}
	if len(plan.Chunks) > 0 {
		queueChunks(b, seg.ObjectKey, plan, maxTS)
	}
	if len(plan.Producers) > 0 {
		queueProducers(b, plan)
	}
	tw.queueWrite(b)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return nil, err // the server refused: nothing was committed
		}
		// The connection failed after the writes and COMMIT were sent:
		// the server may have committed. Find out, rather than make
		// producers retry records that may be stored.
		conn.Release()
		conn = nil
		if tw != nil && seg.ObjectKey == "" {
			return nil, err // no object tells; the caller reads the row
		}
		committed, rerr := s.committed(ctx, seg.ObjectKey, topicIDs, partNums)
		switch {
		case rerr != nil:
			return nil, fmt.Errorf("%w; its outcome is unknown: %w", err, rerr)
		case !committed:
			return nil, err
		}
		s.metrics.resolvedCommits.Inc()
		return plan.Results, nil
	}
	return plan.Results, nil
}

// committed tells whether the segment commit of object key, whose answer
// was lost, happened. It takes the segment's partition row locks, so it
// waits for that transaction to end if it still runs on the server, then
// looks for the object's row, which the commit inserts. It tries again
// while the metastore cannot be reached, until ctx ends.
func (s *Store) committed(ctx context.Context, key string, topicIDs []uuid.UUID, partNums []int32) (bool, error) {
	for attempt := 1; ; attempt++ {
		var found bool
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockPartitionsSQL, topicIDs, partNums); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM objects WHERE key = $1 AND level = 0)`, key).Scan(&found)
		})
		if err == nil {
			return found, nil
		}
		backoff := time.Duration(min(attempt, 10)) * 50 * time.Millisecond
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
	}
}

// rollback ends a failed transaction. If that fails too, the connection is
// closed, so that the pool never hands out one inside a transaction.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().IsClosed() || conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		conn.Conn().Close(ctx)
	}
}

// distinct returns ids without repeats, in their order.
func distinct(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	for i, id := range ids {
		if i == 0 || id != ids[i-1] { // ProducerKeys sorts by producer id
			out = append(out, id)
		}
	}
	return out
}

// readState reads the results of the first round trip.
func readState(br pgx.BatchResults, nparts, nproducers int) (
	parts map[metastore.PartitionKey]metastore.Partition, maxTS map[metastore.PartitionKey]int64,
	producers map[metastore.ProducerKey]metastore.ProducerState, registered map[int64]bool, err error,
) {
	parts, maxTS, producers, err = readPartitionsAndProducers(br, nparts, nproducers)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	registered = make(map[int64]bool)
	rows, err := br.Query()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("load registered producers: %w", err)
	}
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { registered[id] = true; return nil }); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("load registered producers: %w", err)
	}
	return parts, maxTS, producers, registered, nil
}

// readPartitionsAndProducers reads the locked partitions and the producer
// states of the first round trip.
func readPartitionsAndProducers(br pgx.BatchResults, nparts, nproducers int) (
	map[metastore.PartitionKey]metastore.Partition, map[metastore.PartitionKey]int64,
	map[metastore.ProducerKey]metastore.ProducerState, error,
) {
	if _, err := br.Exec(); err != nil {
		return nil, nil, nil, fmt.Errorf("begin: %w", err)
	}
	parts := make(map[metastore.PartitionKey]metastore.Partition, nparts)
	maxTS := make(map[metastore.PartitionKey]int64, nparts)
	rows, err := br.Query()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("lock partitions: %w", err)
	}
	var p metastore.Partition
	var ts int64
	_, err = pgx.ForEachRow(rows, []any{&p.TopicID, &p.Partition, &p.NextOffset, &p.LogStartOffset, &p.LeaderNode, &p.LeaderEpoch, &ts}, func() error {
		k := metastore.PartitionKey{TopicID: p.TopicID, Partition: p.Partition}
		parts[k] = p
		maxTS[k] = ts
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("lock partitions: %w", err)
	}
	producers := make(map[metastore.ProducerKey]metastore.ProducerState, nproducers)
	rows, err = br.Query()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load producers: %w", err)
	}
	var st metastore.ProducerState
	var recent string
	_, err = pgx.ForEachRow(rows, []any{&st.Key.ProducerID, &st.Key.TopicID, &st.Key.Partition, &st.Epoch, &recent}, func() error {
		r, err := metastore.DecodeRecent([]byte(recent))
		if err != nil {
			return fmt.Errorf("producer %d on %s/%d: %w", st.Key.ProducerID, st.Key.TopicID, st.Key.Partition, err)
		}
		producers[st.Key] = metastore.ProducerState{Key: st.Key, Epoch: st.Epoch, Recent: r}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load producers: %w", err)
	}
	return parts, maxTS, producers, nil
}

// queueChunks queues the partition updates, chunk inserts and notifications
// of a plan. maxTS holds each partition's running maximum timestamp.
func queueChunks(b *pgx.Batch, objectKey string, plan metastore.CommitPlan, maxTS map[metastore.PartitionKey]int64) {
	n := len(plan.Chunks)
	var (
		topics    = make([]uuid.UUID, n)
		partNums  = make([]int32, n)
		bases     = make([]int64, n)
		ends      = make([]int64, n)
		starts    = make([]int64, n)
		lengths   = make([]int64, n)
		raws      = make([]int64, n)
		counts    = make([]int32, n)
		maxes     = make([]int64, n)
		runs      = make([]int64, n)
		skips     = make([]string, n)
		touchedTS = make(map[metastore.PartitionKey]int64, len(plan.NextOffset))
	)
	for i, c := range plan.Chunks {
		k := metastore.PartitionKey{TopicID: c.TopicID, Partition: c.Partition}
		run, ok := touchedTS[k]
		if !ok {
			run = maxTS[k]
		}
		run = max(run, c.MaxTimestamp)
		touchedTS[k] = run
		topics[i], partNums[i], bases[i], ends[i] = c.TopicID, c.Partition, c.BaseOffset, c.EndOffset
		starts[i], lengths[i], raws[i], counts[i] = c.Start, c.Length, c.RawLength, c.BatchCount
		maxes[i], runs[i], skips[i] = c.MaxTimestamp, run, intArrayLiteral(c.Skip)
	}
	hws := make([]HighWatermark, 0, len(plan.NextOffset))
	for k, next := range plan.NextOffset {
		hws = append(hws, HighWatermark{TopicID: k.TopicID, Partition: k.Partition, NextOffset: next})
	}
	sortHighWatermarks(hws)
	upTopics := make([]uuid.UUID, len(hws))
	upParts := make([]int32, len(hws))
	upNext := make([]int64, len(hws))
	upTS := make([]int64, len(hws))
	for i, hw := range hws {
		upTopics[i], upParts[i], upNext[i] = hw.TopicID, hw.Partition, hw.NextOffset
		upTS[i] = touchedTS[metastore.PartitionKey{TopicID: hw.TopicID, Partition: hw.Partition}]
	}
	b.Queue(updatePartitionsSQL, upTopics, upParts, upNext, upTS)
	b.Queue(insertChunksSQL, objectKey, topics, partNums, bases, ends, starts, lengths, raws, counts, maxes, runs, skips)
	queueTxns(b, plan.Txns)
	b.Queue(notifySQL, encodeNotifications(hws, maxNotifyPayload))
}

func queueProducers(b *pgx.Batch, plan metastore.CommitPlan) {
	n := len(plan.Producers)
	ids := make([]int64, 0, n)
	topics := make([]uuid.UUID, 0, n)
	partNums := make([]int32, 0, n)
	epochs := make([]int16, 0, n)
	recents := make([]string, 0, n)
	for k, st := range plan.Producers {
		ids, topics, partNums = append(ids, k.ProducerID), append(topics, k.TopicID), append(partNums, k.Partition)
		epochs, recents = append(epochs, st.Epoch), append(recents, string(metastore.AppendRecent(nil, st.Recent)))
	}
	b.Queue(upsertProducersSQL, ids, topics, partNums, epochs, recents)
}

func sortHighWatermarks(hws []HighWatermark) {
	slices.SortFunc(hws, func(a, b HighWatermark) int {
		if c := bytes.Compare(a.TopicID[:], b.TopicID[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
}

// intArrayLiteral spells s as a PostgreSQL array literal, "{1,5}".
func intArrayLiteral(s []int32) string {
	if len(s) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(v), 10))
	}
	b.WriteByte('}')
	return b.String()
}
