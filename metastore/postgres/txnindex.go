package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

// The transaction index (migration 0013): txn_open, one row per producer
// with an open transaction on a partition, and txn_aborted, the ranges of
// aborted transactions. A segment commit changes them in its second round
// trip (queueTxns, called by queueChunks), so that every commit of a plan
// keeps the index, whichever function commits it.

const openTxnsSQL = `
INSERT INTO txn_open (topic_id, partition, producer_id, first_offset)
SELECT * FROM unnest($1::uuid[], $2::integer[], $3::bigint[], $4::bigint[])
ON CONFLICT (topic_id, partition, producer_id) DO NOTHING`

// endTxnsSQL deletes the open rows that markers end and moves those of
// abort markers into txn_aborted, with the marker as the last offset.
const endTxnsSQL = `
WITH e AS (
	SELECT * FROM unnest($1::uuid[], $2::integer[], $3::bigint[], $4::bigint[], $5::boolean[])
		AS e(topic_id, partition, producer_id, marker, abort)
), d AS (
	DELETE FROM txn_open o USING e
	WHERE o.topic_id = e.topic_id AND o.partition = e.partition AND o.producer_id = e.producer_id
	RETURNING o.topic_id, o.partition, o.first_offset, o.producer_id, e.marker, e.abort
)
INSERT INTO txn_aborted (topic_id, partition, first_offset, producer_id, last_offset)
SELECT topic_id, partition, first_offset, producer_id, marker FROM d WHERE abort`

const insertAbortedSQL = `
INSERT INTO txn_aborted (topic_id, partition, first_offset, producer_id, last_offset)
SELECT * FROM unnest($1::uuid[], $2::integer[], $3::bigint[], $4::bigint[], $5::bigint[])`

// queueTxns queues a plan's changes to the transaction index, in the
// order metastore.TxnPlan gives.
func queueTxns(b *pgx.Batch, t metastore.TxnPlan) {
	queueOpens := func(opens []metastore.TxnOpen) {
		if len(opens) == 0 {
			return
		}
		topics, parts, ids, offs := make([]uuid.UUID, len(opens)), make([]int32, len(opens)), make([]int64, len(opens)), make([]int64, len(opens))
		for i, o := range opens {
			topics[i], parts[i], ids[i], offs[i] = o.Key.TopicID, o.Key.Partition, o.Key.ProducerID, o.Offset
		}
		b.Queue(openTxnsSQL, topics, parts, ids, offs)
	}
	queueOpens(t.OpenFirst)
	if n := len(t.Ends); n > 0 {
		topics, parts, ids, offs, aborts := make([]uuid.UUID, n), make([]int32, n), make([]int64, n), make([]int64, n), make([]bool, n)
		for i, e := range t.Ends {
			topics[i], parts[i], ids[i], offs[i], aborts[i] = e.Key.TopicID, e.Key.Partition, e.Key.ProducerID, e.Offset, e.Abort
		}
		b.Queue(endTxnsSQL, topics, parts, ids, offs, aborts)
	}
	if n := len(t.Aborted); n > 0 {
		topics, parts, firsts, ids, lasts := make([]uuid.UUID, n), make([]int32, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, a := range t.Aborted {
			topics[i], parts[i], firsts[i], ids[i], lasts[i] = a.Key.TopicID, a.Key.Partition, a.FirstOffset, a.Key.ProducerID, a.LastOffset
		}
		b.Queue(insertAbortedSQL, topics, parts, firsts, ids, lasts)
	}
	queueOpens(t.OpenLast)
}

// partitionTxnsSQL reads the partition row, its oldest open transaction
// and the aborted ones asked for in one statement, so in one snapshot.
const partitionTxnsSQL = `
SELECT p.next_offset,
	COALESCE((SELECT min(o.first_offset) FROM txn_open o WHERE o.topic_id = p.topic_id AND o.partition = p.partition), -1),
	a.producer_id, a.first_offset, a.last_offset
FROM partitions p
LEFT JOIN LATERAL (
	SELECT * FROM txn_aborted a
	WHERE a.topic_id = p.topic_id AND a.partition = p.partition AND a.last_offset >= $3
	ORDER BY a.first_offset
	LIMIT $4
) a ON true
WHERE p.topic_id = $1 AND p.partition = $2
ORDER BY a.first_offset`

// PartitionTxns implements metastore.TxnIndexStore.
func (s *Store) PartitionTxns(ctx context.Context, topicID uuid.UUID, partition int32, from int64, limit int) (_ metastore.PartitionTxns, err error) {
	defer s.metrics.Observe("partition_txns", time.Now(), &err)
	limit = max(limit, 1)
	rows, err := s.pool.Query(ctx, partitionTxnsSQL, topicID, partition, from, limit+1)
	if err != nil {
		return metastore.PartitionTxns{}, fmt.Errorf("transactions of %s/%d: %w", topicID, partition, err)
	}
	var out metastore.PartitionTxns
	found := false
	var pid, first, last *int64
	_, err = pgx.ForEachRow(rows, []any{&out.NextOffset, &out.FirstOpen, &pid, &first, &last}, func() error {
		found = true
		if pid != nil {
			out.Aborted = append(out.Aborted, metastore.AbortedTxn{ProducerID: *pid, FirstOffset: *first, LastOffset: *last})
		}
		return nil
	})
	if err != nil {
		return metastore.PartitionTxns{}, fmt.Errorf("transactions of %s/%d: %w", topicID, partition, err)
	}
	if !found {
		return metastore.PartitionTxns{}, fmt.Errorf("transactions of %s/%d: %w", topicID, partition, metastore.ErrUnknownPartition)
	}
	if len(out.Aborted) > limit {
		out.Aborted, out.Truncated = out.Aborted[:limit], true
	}
	return out, nil
}

const partitionProducersSQL = `
SELECT s.producer_id, s.epoch, s.recent::text, (extract(epoch FROM s.updated_at) * 1000)::bigint,
	COALESCE(o.first_offset, -1)
FROM producer_state s
LEFT JOIN txn_open o ON o.topic_id = s.topic_id AND o.partition = s.partition AND o.producer_id = s.producer_id
WHERE s.topic_id = $1 AND s.partition = $2
ORDER BY s.producer_id`

// PartitionProducers implements metastore.TxnIndexStore.
func (s *Store) PartitionProducers(ctx context.Context, topicID uuid.UUID, partition int32) (_ []metastore.PartitionProducer, err error) {
	defer s.metrics.Observe("partition_producers", time.Now(), &err)
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM partitions WHERE topic_id = $1 AND partition = $2`, topicID, partition).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		err = metastore.ErrUnknownPartition
	}
	if err != nil {
		return nil, fmt.Errorf("producers of %s/%d: %w", topicID, partition, err)
	}
	rows, err := s.pool.Query(ctx, partitionProducersSQL, topicID, partition)
	if err != nil {
		return nil, fmt.Errorf("producers of %s/%d: %w", topicID, partition, err)
	}
	var out []metastore.PartitionProducer
	var p metastore.PartitionProducer
	var recent string
	_, err = pgx.ForEachRow(rows, []any{&p.ProducerID, &p.Epoch, &recent, &p.LastTimestamp, &p.TxnFirstOffset}, func() error {
		r, err := metastore.DecodeRecent([]byte(recent))
		if err != nil {
			return fmt.Errorf("producer %d: %w", p.ProducerID, err)
		}
		p.LastSequence = metastore.ProducerState{Recent: r}.LastSeq()
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("producers of %s/%d: %w", topicID, partition, err)
	}
	return out, nil
}

// PruneAbortedTxns implements metastore.TxnIndexStore.
func (s *Store) PruneAbortedTxns(ctx context.Context) (n int, err error) {
	defer s.metrics.Observe("prune_aborted_txns", time.Now(), &err)
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM txn_aborted a USING partitions p
		WHERE a.topic_id = p.topic_id AND a.partition = p.partition AND a.last_offset < p.log_start_offset`)
	if err != nil {
		return 0, fmt.Errorf("prune aborted transactions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
