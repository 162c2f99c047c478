package txn

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/metastore"
)

// The requests of transactional producers, as the front door hands them
// over once it has decoded and authorized them. Each returns the Kafka
// error to answer, nil for success.

func (c *Coordinator) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.StoreTimeout)
}

// InitProducerID is InitProducerId with a transactional id: a new producer
// id for a new id, else the next epoch of the id's producer, which fences
// the previous instance; a transaction it left open is aborted first, with
// markers carrying the new epoch. pid and epoch are the client's (-1, -1
// unless it recovers, KIP-360).
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, pid int64, epoch int16) (int64, int16, *kerr.Error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	maxMs := int32(min(c.cfg.MaxTimeout.Milliseconds(), 1<<31-1))
	res, err := c.apply(ctx, id, func(cur metastore.Transaction, exists bool) (Result, error) {
		var newID int64 = -1
		if !exists || cur.ProducerEpoch >= MaxEpoch-1 {
			if timeoutMs > 0 && timeoutMs <= maxMs {
				var err error
				if newID, err = c.store.AllocateProducerID(ctx); err != nil {
					return Result{}, err
				}
			}
		}
		return Init(cur, exists, id, timeoutMs, maxMs, newID, pid, epoch, c.now()), nil
	})
	if e := c.errorCode("init_producer_id", err); e != nil {
		return -1, -1, e
	}
	if res.Err != nil {
		return -1, -1, res.Err
	}
	return res.Next.ProducerID, res.Next.ProducerEpoch, nil
}

// AddPartitions is AddPartitionsToTxn: the partitions join the open
// transaction, which begins when none is open.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []metastore.TopicPartition) *kerr.Error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	res, err := c.apply(ctx, id, func(cur metastore.Transaction, exists bool) (Result, error) {
		return AddPartitions(cur, exists, pid, epoch, parts, c.now()), nil
	})
	return c.outcome("add_partitions", res, err)
}

// VerifyPartitions answers whether parts are all in the producer's open
// transaction (AddPartitionsToTxn v4+ with VerifyOnly): nil, or the error
// of the first that is not.
func (c *Coordinator) VerifyPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []metastore.TopicPartition) *kerr.Error {
	return c.CheckProduce(ctx, id, pid, epoch, parts)
}

// AddOffsets is AddOffsetsToTxn: the transaction will commit offsets of
// group.
func (c *Coordinator) AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string) *kerr.Error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	res, err := c.apply(ctx, id, func(cur metastore.Transaction, exists bool) (Result, error) {
		return AddOffsets(cur, exists, pid, epoch, group, c.now()), nil
	})
	return c.outcome("add_offsets", res, err)
}

// OffsetCommit is TxnOffsetCommit: the offsets are held with the
// transaction, visible as the group's only once it commits. Clients send
// it to the group's coordinator, which need not be the transactional id's:
// it takes no lease, and the row's compare-and-set orders it with the
// coordinator's writes.
func (c *Coordinator) OffsetCommit(ctx context.Context, id string, pid int64, epoch int16, group string, offs []metastore.GroupOffset) *kerr.Error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	res, err := c.applyUnleased(ctx, id, func(cur metastore.Transaction, exists bool) (Result, error) {
		return OffsetCommit(cur, exists, pid, epoch, group, offs), nil
	})
	return c.outcome("txn_offset_commit", res, err)
}

// EndTxn commits or aborts the open transaction: the markers, the state
// and the offsets in one metastore transaction.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) *kerr.Error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	res, err := c.apply(ctx, id, func(cur metastore.Transaction, exists bool) (Result, error) {
		return End(cur, exists, pid, epoch, commit, c.now()), nil
	})
	return c.outcome("end_txn", res, err)
}

func (c *Coordinator) outcome(op string, res Result, err error) *kerr.Error {
	if e := c.errorCode(op, err); e != nil {
		return e
	}
	return res.Err
}

// CheckProduce is the gate of a transactional Produce: the batches of
// producer pid at epoch may go to parts only while they are in the id's
// open transaction. It reads the stored row, which any node may do: a
// partition's leader is seldom the id's coordinator. A producer of an
// older epoch is INVALID_PRODUCER_EPOCH (fenced), a partition not added
// is INVALID_TXN_STATE, an id or producer id the metastore does not know
// INVALID_PRODUCER_ID_MAPPING.
func (c *Coordinator) CheckProduce(ctx context.Context, id string, pid int64, epoch int16, parts []metastore.TopicPartition) *kerr.Error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	cur, err := c.store.LoadTransaction(ctx, id)
	switch {
	case errors.Is(err, metastore.ErrUnknownTransaction):
		return kerr.InvalidProducerIDMapping
	case err != nil:
		return c.errorCode("check_produce", err)
	case cur.ProducerID != pid:
		return kerr.InvalidProducerIDMapping
	case epoch < cur.ProducerEpoch:
		return kerr.InvalidProducerEpoch
	case epoch > cur.ProducerEpoch:
		return kerr.InvalidProducerIDMapping
	case cur.State != metastore.TxnOngoing:
		return kerr.InvalidTxnState
	}
	have := make(map[metastore.TopicPartition]bool, len(cur.Partitions))
	for _, p := range cur.Partitions {
		have[p] = true
	}
	for _, p := range parts {
		if !have[p] {
			return kerr.InvalidTxnState
		}
	}
	return nil
}

// Describe returns the stored state of transactional ids
// (DescribeTransactions); ok false for an id the metastore does not know.
func (c *Coordinator) Describe(ctx context.Context, id string) (metastore.Transaction, bool, *kerr.Error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	t, err := c.store.LoadTransaction(ctx, id)
	if errors.Is(err, metastore.ErrUnknownTransaction) {
		return t, false, nil
	}
	if err != nil {
		return t, false, c.errorCode("describe_transactions", err)
	}
	return t, true, nil
}

// List returns every transactional id's row (ListTransactions).
func (c *Coordinator) List(ctx context.Context) ([]metastore.Transaction, *kerr.Error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	ts, err := c.store.ListTransactions(ctx)
	if err != nil {
		return nil, c.errorCode("list_transactions", err)
	}
	return ts, nil
}

// sweepLoop aborts, every SweepInterval, the open transactions past their
// timeout whose ids this node coordinates or may take over.
func (c *Coordinator) sweepLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.Sweep(context.Background())
		}
	}
}

// Sweep aborts the expired transactions this node coordinates, or whose
// coordinator died (their lease ran out and the cluster view gives them
// to this node), and returns how many it aborted.
func (c *Coordinator) Sweep(ctx context.Context) int {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	ts, err := c.store.ListTransactions(ctx)
	if err != nil {
		c.m.storeErrors.WithLabelValues("sweep").Inc()
		c.log.Warn("listing the transactions to sweep failed", "err", err)
		return 0
	}
	n := 0
	for _, t := range ts {
		if !t.Expired(c.now()) {
			continue
		}
		res, err := c.apply(ctx, t.TransactionalID, func(cur metastore.Transaction, exists bool) (Result, error) {
			if !exists {
				return Result{}, nil
			}
			return Timeout(cur, c.now()), nil
		})
		switch {
		case errors.Is(err, errNotCoordinator):
		case err != nil:
			c.log.Warn("aborting a timed-out transaction failed", "transactional_id", t.TransactionalID, "err", err)
		case res.End != nil:
			n++
			c.m.timedOut.Inc()
			c.log.Info("aborted a transaction past its timeout", "transactional_id", t.TransactionalID,
				"producer_id", t.ProducerID, "timeout_ms", t.TimeoutMs)
		}
	}
	return n
}

// PendingOffsets returns the partitions of group for which an open
// transaction holds a pending offset (OffsetFetch require_stable).
func (c *Coordinator) PendingOffsets(ctx context.Context, group string) (map[metastore.TopicPartition]bool, *kerr.Error) {
	ts, e := c.List(ctx)
	if e != nil {
		return nil, e
	}
	out := map[metastore.TopicPartition]bool{}
	for _, t := range ts {
		if t.State != metastore.TxnOngoing {
			continue
		}
		for _, o := range t.PendingOffsets {
			if o.Group == group {
				out[metastore.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = true
			}
		}
	}
	return out, nil
}

// Owns reports whether this node's view of the cluster gives it the
// transactional id (ListTransactions lists those).
func (c *Coordinator) Owns(id string) bool {
	return c.cfg.Owner == nil || c.cfg.Owner(metastore.TxnLeaseKey(id))
}
