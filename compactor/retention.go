package compactor

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratalog/strata/internal/topicconfig"
	"github.com/stratalog/strata/metastore"
)

// retention advances the log start offsets of topics with cleanup.policy
// delete by time (retention.ms: chunks whose newest record is older go) and
// by size (retention.bytes: the oldest chunks go while the rest still holds
// at least that many bytes), as Kafka does with segments. Sizes are the
// chunks' decoded bytes, the size of the record batches as Kafka stores
// them. Then, for every partition whose log start moved since the last
// round (by retention or DeleteRecords), the chunk rows wholly below it are
// dropped.
func (c *Compactor) retention(ctx context.Context, topics []metastore.Topic, st *Stats) error {
	now := c.now().UnixMilli()
	seen := make(map[metastore.PartitionKey]int64, len(c.dropped))
	var errs []error
	for _, t := range topics {
		if err := c.checkLease(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
		parts, err := c.store.Partitions(ctx, t.ID)
		if errors.Is(err, metastore.ErrUnknownTopic) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("retention of %s: %w", t.Name, err))
			continue
		}
		pol := c.policy(t)
		for _, p := range parts {
			if err := ctx.Err(); err != nil {
				return errors.Join(append(errs, err)...)
			}
			k := metastore.PartitionKey{TopicID: t.ID, Partition: p.Partition}
			start, err := c.retainedStart(ctx, p, pol, now)
			if err != nil {
				if !errors.Is(err, metastore.ErrUnknownPartition) {
					errs = append(errs, fmt.Errorf("retention of %s/%d: %w", t.Name, p.Partition, err))
				}
				continue
			}
			if start > p.LogStartOffset {
				got, err := c.store.DeleteRecords(ctx, t.ID, p.Partition, start)
				if err != nil {
					errs = append(errs, fmt.Errorf("retention of %s/%d: %w", t.Name, p.Partition, err))
					continue
				}
				c.logger.Info("retention moved the log start", "topic", t.Name, "partition", p.Partition, "from", p.LogStartOffset, "to", got)
				st.LogStartsAdvanced++
				c.m.logStarts.Inc()
				start = got
			} else {
				start = p.LogStartOffset
			}
			if last, ok := c.dropped[k]; ok && last == start {
				seen[k] = start
				continue
			}
			n, err := c.store.DropChunksBelowStart(ctx, t.ID, p.Partition)
			if err != nil {
				errs = append(errs, fmt.Errorf("retention of %s/%d: %w", t.Name, p.Partition, err))
				continue
			}
			seen[k] = start
			st.ChunksDropped += n
			c.m.droppedChunks.Add(float64(n))
		}
	}
	c.dropped = seen
	return errors.Join(errs...)
}

// retainedStart returns the log start offset the topic's retention asks for
// (at least the current one).
func (c *Compactor) retainedStart(ctx context.Context, p metastore.Partition, pol topicconfig.Policy, now int64) (int64, error) {
	start := p.LogStartOffset
	if !pol.Delete || p.NextOffset == p.LogStartOffset {
		return start, nil
	}
	if pol.RetentionMs >= 0 {
		ch, ok, err := c.store.ChunkForTimestamp(ctx, p.TopicID, p.Partition, now-pol.RetentionMs)
		if err != nil {
			return 0, err
		}
		if ok {
			start = max(start, ch.BaseOffset)
		} else {
			start = p.NextOffset // every record is older
		}
	}
	if pol.RetentionBytes >= 0 && start < p.NextOffset {
		rows, err := c.allRows(ctx, metastore.Partition{TopicID: p.TopicID, Partition: p.Partition, LogStartOffset: start, NextOffset: p.NextOffset})
		if err != nil {
			return 0, err
		}
		var size int64
		for _, r := range rows {
			size += r.RawLength
		}
		for _, r := range rows {
			if size-r.RawLength < pol.RetentionBytes {
				break
			}
			size -= r.RawLength
			start = max(start, r.EndOffset)
		}
	}
	return start, nil
}
