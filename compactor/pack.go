package compactor

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// maxSwapRows bounds the chunk rows one metastore transaction of a swap
// replaces: the merges of an object are swapped in by several transactions
// when they replace more. A transaction locks the rows of its partitions,
// which ingest commits to those partitions wait for, and its time grows
// with the rows it deletes: at 10,000 partitions merged for age, each
// replaces about 300 rows, and an object holds hundreds of partitions.
const maxSwapRows = 5_000

// pack gathers the merges of a round into shared level-1 objects, so that
// merging many partitions with little data each does not cost one PUT per
// partition. At 10,000 partitions whose level-0 data is merged for age,
// one object per partition would be about 17 PUTs/s, four times the node's
// PUT budget, for objects of about 50 KB.
//
// Merges join the open pack in the order the round makes them; the pack is
// written (one PUT, then swapped in by one metastore transaction per
// maxSwapRows replaced rows) when the next merge would take it past
// Config.TargetObjectBytes of merged compressed bytes or
// Config.MaxMergeRawBytes of decoded bytes (what it holds in memory until
// it is encoded), or is a second merge of a partition it holds; and at the
// end of the round. A merge as large as the target is an object of its
// own, as before packing.
type pack struct {
	merges     []*built
	parts      map[metastore.PartitionKey]bool
	compressed int64 // compressed bytes of the rows merged
	raw        int64 // decoded bytes of the merges' chunks
}

func newPack() *pack { return &pack{parts: make(map[metastore.PartitionKey]bool)} }

// rowBytes returns the compressed and decoded bytes of rows.
func rowBytes(rows []metastore.Chunk) (compressed, raw int64) {
	for _, r := range rows {
		compressed += r.Length
		raw += r.RawLength
	}
	return compressed, raw
}

// makeRoom writes the open pack when a merge of rows (of one partition)
// would not fit in it.
func (c *Compactor) makeRoom(ctx context.Context, rows []metastore.Chunk, st *Stats) {
	p := c.pack
	if len(p.merges) == 0 || len(rows) == 0 {
		return
	}
	compressed, raw := rowBytes(rows)
	pk := metastore.PartitionKey{TopicID: rows[0].TopicID, Partition: rows[0].Partition}
	if p.parts[pk] || p.compressed+compressed > c.cfg.TargetObjectBytes || p.raw+raw > c.cfg.MaxMergeRawBytes {
		c.flushPack(ctx, st)
	}
}

// addToPack adds a merge of rows to the open pack, and writes the pack
// when it is full.
func (c *Compactor) addToPack(ctx context.Context, bt *built, rows []metastore.Chunk, st *Stats) {
	p := c.pack
	compressed, _ := rowBytes(rows)
	p.merges = append(p.merges, bt)
	p.parts[metastore.PartitionKey{TopicID: bt.swap.TopicID, Partition: bt.swap.Partition}] = true
	p.compressed += compressed
	p.raw += bt.raw
	if p.compressed >= c.cfg.TargetObjectBytes {
		c.flushPack(ctx, st)
	}
}

// flushPack writes the open pack's object, if it holds a merge, and opens
// a new pack. Failures are kept in packErrs for the round's error; a
// partition whose rows changed is logged and merged again next round.
func (c *Compactor) flushPack(ctx context.Context, st *Stats) {
	merges := c.pack.merges
	c.pack = newPack()
	if len(merges) == 0 {
		return
	}
	o, err := c.encode(merges)
	if err == nil {
		err = c.put(ctx, o)
	}
	if err != nil {
		if ctx.Err() == nil {
			c.logger.Warn("level-1 object failed", "partitions", len(merges), "err", err)
		}
		c.packErrs = append(c.packErrs, fmt.Errorf("level-1 object of %d partitions: %w", len(merges), err))
		return
	}
	for i, r := range c.swap(ctx, o, st) {
		m := merges[i].swap
		switch {
		case r == nil:
		case errors.Is(r, metastore.ErrChunksChanged):
			c.logger.Info("partition changed during compaction", "topic", m.TopicID, "partition", m.Partition, "err", r)
		default:
			if ctx.Err() == nil {
				c.logger.Warn("swap failed", "topic", m.TopicID, "partition", m.Partition, "err", r)
			}
			c.packErrs = append(c.packErrs, r)
		}
	}
}

// object is a level-1 object encoded from one or more merges.
type object struct {
	key    string
	data   []byte
	merges []*built
}

// encode encodes merges, of distinct partitions, into one level-1 object
// under a fresh key named after the first merge's partition, and gives
// each swap the object and its new rows' places in it. The merges' decoded
// chunks are let go.
func (c *Compactor) encode(merges []*built) (*object, error) {
	var inputs []segment.ChunkInput
	for _, m := range merges {
		inputs = append(inputs, m.inputs...)
	}
	data, infos, err := segment.Encode(segment.Level1, inputs)
	if err != nil {
		return nil, fmt.Errorf("compactor: encode level-1 object: %w", err)
	}
	first := merges[0].swap
	o := &object{key: segment.Level1Key(c.cfg.KeyPrefix, first.TopicID, first.Partition, first.Old[0].BaseOffset), data: data, merges: merges}
	k := 0
	for _, m := range merges {
		m.swap.ObjectKey, m.swap.ObjectSize = o.key, int64(len(data))
		for i := range m.swap.New {
			m.swap.New[i].Start, m.swap.New[i].Length, m.swap.New[i].RawLength = infos[k].Start, infos[k].Length, infos[k].RawLength
			k++
		}
		m.inputs = nil
		if err := m.swap.Validate(); err != nil {
			return nil, fmt.Errorf("compactor: %w", err)
		}
	}
	return o, nil
}

// put stores an encoded object.
func (c *Compactor) put(ctx context.Context, o *object) error {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	if err := c.objects.Put(pctx, o.key, o.data); err != nil {
		return fmt.Errorf("put %s: %w", o.key, err)
	}
	return nil
}

// swap swaps a stored object into the chunk index, one metastore
// transaction per maxSwapRows replaced rows (c.swapRows), and returns one
// result per merge: nil when swapped in, wrapping
// metastore.ErrChunksChanged when the partition's rows changed and that
// merge was left out, the transaction's error when it failed. When no
// merge is swapped in the object stays behind without an objects row, and
// the orphan collection deletes it after its grace period.
func (c *Compactor) swap(ctx context.Context, o *object, st *Stats) []error {
	results := make([]error, 0, len(o.merges))
	applied := false
	for start := 0; start < len(o.merges); {
		end, rows := start, 0
		for end < len(o.merges) && (end == start || rows+len(o.merges[end].swap.Old) <= c.swapRows) {
			rows += len(o.merges[end].swap.Old)
			end++
		}
		swaps := make([]metastore.ChunkSwap, 0, end-start)
		for _, m := range o.merges[start:end] {
			swaps = append(swaps, m.swap)
		}
		res, err := c.store.SwapObject(ctx, swaps)
		if err != nil {
			c.m.swaps.WithLabelValues("error").Add(float64(len(swaps)))
			for range swaps {
				results = append(results, err)
			}
			start = end
			continue
		}
		for i, r := range res {
			m := o.merges[start+i]
			results = append(results, r)
			if r != nil {
				c.m.swaps.WithLabelValues("conflict").Inc()
				st.SwapsAborted++
				continue
			}
			applied = true
			c.m.swaps.WithLabelValues("ok").Inc()
			c.m.mergedChunks.Add(float64(len(m.swap.Old)))
			c.m.recordsRemoved.Add(float64(m.removed))
			st.ChunksMerged += len(m.swap.Old)
			st.RecordsRemoved += m.removed
			c.merged[metastore.PartitionKey{TopicID: m.swap.TopicID, Partition: m.swap.Partition}] = true
		}
		start = end
	}
	if applied {
		c.m.writtenBytes.Add(float64(len(o.data)))
		c.m.written.Inc()
		st.ObjectsWritten++
		st.BytesWritten += int64(len(o.data))
	}
	return results
}

// writeAlone encodes and stores one merge as an object of its own, for
// key compaction, which swaps its objects in order.
func (c *Compactor) writeAlone(ctx context.Context, bt *built) (*object, error) {
	o, err := c.encode([]*built{bt})
	if err != nil {
		return nil, err
	}
	return o, c.put(ctx, o)
}

// swapAlone swaps in an object of one merge.
func (c *Compactor) swapAlone(ctx context.Context, o *object, st *Stats) error {
	return c.swap(ctx, o, st)[0]
}
