package compactor

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/internal/topicconfig"
	"github.com/stratalog/strata/metastore"
)

// maxRunChunks bounds the level-0 chunk rows read for one partition per
// round; a longer backlog is merged over several rounds.
const maxRunChunks = 4096

// rowsPerPage is how many chunk rows one ChunksFrom reads when a partition
// is read whole (retention by bytes, key compaction).
const rowsPerPage = 1000

// keyEntryOverhead is the memory of a key map entry besides its key bytes.
const keyEntryOverhead = 48

// merge compacts the partitions the metastore reports as having a level-0
// backlog.
func (c *Compactor) merge(ctx context.Context, topics []metastore.Topic, st *Stats) error {
	byID := make(map[uuid.UUID]metastore.Topic, len(topics))
	for _, t := range topics {
		byID[t.ID] = t
	}
	due := metastore.MergeThresholds{MinBytes: c.cfg.MinLevel0Bytes, MaxAge: c.cfg.MaxLevel0Age, MinChunks: c.cfg.MinLevel0Chunks}
	all, err := c.store.Backlogs(ctx, due, c.cfg.PartitionsPerRound)
	if err != nil {
		return fmt.Errorf("compactor: %w", err)
	}
	backlogs := all[:0]
	for _, b := range all {
		if _, ok := byID[b.TopicID]; ok { // else created or deleted since the topics were listed
			backlogs = append(backlogs, b)
		}
	}
	c.shared = newSharedReads(c.cfg)
	c.pack, c.packErrs, c.merged = newPack(), nil, make(map[metastore.PartitionKey]bool)
	defer func() {
		st.PartitionsMerged += len(c.merged)
		c.shared, c.pack, c.packErrs, c.merged = nil, nil, nil, nil
	}()
	var errs []error
	waveEnd := 0
	for i, b := range backlogs {
		if err := c.checkLease(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if c.shared != nil && i == waveEnd {
			waveEnd = i + c.shared.startWave(backlogs[i:])
		}
		t := byID[b.TopicID]
		err := c.compactPartition(ctx, t, b, st)
		c.shared.finish(metastore.PartitionKey{TopicID: b.TopicID, Partition: b.Partition})
		errs = append(errs, c.packErrs...)
		c.packErrs = nil
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.Is(err, ErrLeaseLost):
			return errors.Join(append(errs, err)...)
		case errors.Is(err, metastore.ErrChunksChanged), errors.Is(err, metastore.ErrUnknownPartition),
			errors.Is(err, metastore.ErrOffsetOutOfRange):
			// The partition changed under us (retention, topic deletion):
			// the next round starts again from the metastore.
			c.logger.Info("partition changed during compaction", "topic", t.Name, "partition", b.Partition, "err", err)
		default:
			c.logger.Warn("partition compaction failed", "topic", t.Name, "partition", b.Partition, "err", err)
			errs = append(errs, fmt.Errorf("compact %s/%d: %w", t.Name, b.Partition, err))
		}
	}
	if ctx.Err() == nil {
		c.flushPack(ctx, st)
		errs = append(errs, c.packErrs...)
	}
	return errors.Join(errs...)
}

// compactPartition merges a partition's level-0 run into the open pack,
// or, for a compacted topic whose dirty bytes reached the ratio, cleans the
// whole partition into objects of its own.
func (c *Compactor) compactPartition(ctx context.Context, t metastore.Topic, b metastore.Backlog, st *Stats) error {
	p, err := c.store.Partition(ctx, t.ID, b.Partition)
	if err != nil {
		return err
	}
	pol := c.policy(t)
	if pol.Compact {
		rows, err := c.allRows(ctx, p)
		if err != nil {
			return err
		}
		var total, dirty int64
		for _, r := range rows {
			total += r.RawLength
			if r.EndOffset > b.CleanedOffset {
				dirty += r.RawLength
			}
		}
		if dirty > 0 && float64(dirty) >= pol.MinCleanableDirtyRatio*float64(total) {
			return c.clean(ctx, p, rows, b.CleanedOffset, pol, st)
		}
	}
	run, err := c.level0Run(ctx, p, b)
	if err != nil {
		return err
	}
	for len(run) > 0 {
		n := c.groupSize(run)
		var f *filter
		if pol.Compact {
			f = &filter{dedupe: true, horizon: math.MinInt64}
		}
		c.makeRoom(ctx, run[:n], st)
		bt, err := c.build(ctx, p, run[:n], f)
		if err != nil {
			return err
		}
		c.addToPack(ctx, bt, run[:n], st)
		run = run[n:]
		if len(run) > 0 {
			if err := c.checkLease(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// level0Run returns the partition's level-0 chunk rows, in offset order and
// contiguous, starting with the one its backlog names.
func (c *Compactor) level0Run(ctx context.Context, p metastore.Partition, b metastore.Backlog) ([]metastore.Chunk, error) {
	if b.FirstLevel0Offset < 0 {
		return nil, nil
	}
	from := max(b.FirstLevel0Offset, p.LogStartOffset)
	if from >= p.NextOffset {
		return nil, nil
	}
	rows, err := c.store.ChunksFrom(ctx, p.TopicID, p.Partition, from, maxRunChunks)
	if err != nil {
		return nil, err
	}
	i := 0
	for i < len(rows) && rows[i].Level != 0 {
		i++
	}
	rows = rows[i:]
	for j := 1; j < len(rows); j++ {
		if rows[j].Level != 0 || rows[j].BaseOffset != rows[j-1].EndOffset {
			return rows[:j], nil
		}
	}
	return rows, nil
}

// allRows returns every chunk row of the partition from its log start.
func (c *Compactor) allRows(ctx context.Context, p metastore.Partition) ([]metastore.Chunk, error) {
	var rows []metastore.Chunk
	at := p.LogStartOffset
	for at < p.NextOffset {
		page, err := c.store.ChunksFrom(ctx, p.TopicID, p.Partition, at, rowsPerPage)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if len(rows) > 0 && r.BaseOffset != rows[len(rows)-1].EndOffset {
				return nil, fmt.Errorf("%w: chunk rows of %s/%d jump from %d to %d", metastore.ErrChunksChanged, p.TopicID, p.Partition, rows[len(rows)-1].EndOffset, r.BaseOffset)
			}
			rows = append(rows, r)
		}
		at = page[len(page)-1].EndOffset
		if len(page) < rowsPerPage {
			break
		}
	}
	return rows, nil
}

// groupSize returns how many of rows (at least one) make one level-1
// object: up to TargetObjectBytes compressed and MaxMergeRawBytes decoded.
func (c *Compactor) groupSize(rows []metastore.Chunk) int {
	var compressed, raw int64
	for i, r := range rows {
		if i > 0 && (compressed+r.Length > c.cfg.TargetObjectBytes || raw+r.RawLength > c.cfg.MaxMergeRawBytes) {
			return i
		}
		compressed += r.Length
		raw += r.RawLength
	}
	return len(rows)
}

// filter decides which records of a compacted topic stay.
type filter struct {
	// latest maps each key to the offset of its last record; records of a
	// key below that offset go.
	latest map[string]int64
	// dedupe: build latest from the rows being rewritten themselves.
	dedupe bool
	// horizon: tombstones with a timestamp before it go, unless at or
	// after protect (the partition's last batch, so that its last offset
	// stays readable).
	horizon, protect int64
	// skipUnchanged leaves rows alone that are level 1 already and lose no
	// record.
	skipUnchanged bool
	// txns, when set, is the partition's transaction index (a cleaning):
	// aborted transactions' batches go, commit markers older than horizon
	// go, and committed transactional records are compacted as any other.
	// Without it (a level-0 merge), transactional and control batches are
	// kept whole and stay out of the key map (txn.go).
	txns *txnFilter
}

func (f *filter) keep(r *record) bool {
	if r.Key == nil {
		return true // cannot be superseded; kept rather than lost
	}
	if last, ok := f.latest[string(r.Key)]; ok && r.Offset < last {
		return false
	}
	return !(r.Tombstone() && r.Timestamp < f.horizon && r.Offset < f.protect)
}

// built is one merge of a partition's rows, ready to be encoded into a
// level-1 object, alone or with the merges of other partitions (see pack).
// Its swap's new rows get their place in the object (Start, Length,
// RawLength) and the object's key and size when it is encoded.
type built struct {
	swap    metastore.ChunkSwap
	inputs  []segment.ChunkInput // the swap's new chunks, one per row; nil once encoded
	raw     int64                // decoded bytes of inputs
	removed int64
}

// outChunk is a chunk of the level-1 object being built.
type outChunk struct {
	base         int64 // first offset the chunk row covers
	data         []byte
	batches      int32
	records      int64
	minTS, maxTS int64
}

// build reads rows (contiguous chunk rows of partition p) and encodes the
// level-1 object replacing them: their batches with absolute offsets and the
// partition's leader epoch, skipped batches and batches wholly below the log
// start left out, and, with f, the records f refuses. It returns nil when f
// skips unchanged rows and nothing would change.
func (c *Compactor) build(ctx context.Context, p metastore.Partition, rows []metastore.Chunk, f *filter) (*built, error) {
	datas, err := c.readChunks(ctx, rows)
	if err != nil {
		return nil, err
	}
	if f != nil && f.dedupe {
		f.latest = make(map[string]int64)
		f.protect = math.MaxInt64
		for i := range datas {
			for j := range datas[i].batches {
				b := &datas[i].batches[j]
				if !f.mapped(b) {
					continue
				}
				recs, err := recordbatch.DecodeRecords(c.decomp, b.data, b.h, b.base)
				if err != nil {
					return nil, fmt.Errorf("%w: object %s: %w", ErrCorrupt, rows[i].ObjectKey, err)
				}
				for k := range recs {
					if recs[k].Key != nil {
						f.latest[string(recs[k].Key)] = recs[k].Offset
					}
				}
			}
		}
	}
	first, end := rows[0].BaseOffset, rows[len(rows)-1].EndOffset
	changed := false
	for _, r := range rows {
		if r.Level == 0 {
			changed = true
		}
	}
	var (
		outs    []outChunk
		cur     *outChunk
		removed int64
		scratch []byte
		left    int64 // input bytes not added yet, to size the chunks' buffers
	)
	for _, d := range datas {
		left += d.raw
	}
	add := func(data []byte, base int64, h recordbatch.Header) {
		if cur == nil || (len(cur.data) > 0 && int64(len(cur.data)+len(data)) > c.cfg.ChunkRawBytes) {
			size := min(c.cfg.ChunkRawBytes, max(left, 0)) + int64(len(data))
			outs = append(outs, outChunk{base: base, minTS: math.MaxInt64, maxTS: math.MinInt64, data: make([]byte, 0, size)})
			cur = &outs[len(outs)-1]
			if len(outs) == 1 {
				cur.base = first
			}
		}
		left -= int64(len(data))
		n := len(cur.data)
		cur.data = append(cur.data, data...)
		recordbatch.SetBaseOffset(cur.data[n:], base)
		recordbatch.SetPartitionLeaderEpoch(cur.data[n:], p.LeaderEpoch)
		cur.batches++
		cur.records += h.OffsetCount()
		cur.minTS = min(cur.minTS, h.BaseTimestamp)
		cur.maxTS = max(cur.maxTS, h.MaxTimestamp)
	}
	for i := range datas {
		for j := range datas[i].batches {
			b := &datas[i].batches[j]
			if b.end() <= p.LogStartOffset {
				changed = true
				continue // below the log start: never served again
			}
			if f == nil {
				add(b.data, b.base, b.h)
				continue
			}
			switch keep, err := f.keepBatch(b); {
			case err != nil:
				return nil, fmt.Errorf("%w: object %s: %w", ErrCorrupt, rows[i].ObjectKey, err)
			case keep == batchDrop:
				changed = true
				removed += b.h.OffsetCount()
				continue
			case keep == batchWhole:
				add(b.data, b.base, b.h)
				continue
			}
			out, n, rewritten, err := filterBatch(scratch[:0], c.decomp, b, p.LeaderEpoch, f.keep)
			if err != nil {
				return nil, fmt.Errorf("%w: object %s: %w", ErrCorrupt, rows[i].ObjectKey, err)
			}
			if !rewritten {
				add(b.data, b.base, b.h)
				continue
			}
			changed = true
			removed += int64(n)
			scratch = out
			err = recordbatch.Split(out, func(nb []byte, h recordbatch.Header) error {
				add(nb, h.BaseOffset, h)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("compactor: rewritten batch fails its checks: %w", err)
			}
		}
	}
	if f != nil && f.skipUnchanged && !changed {
		return nil, nil
	}
	if len(outs) == 0 {
		// Nothing left: one empty chunk keeps the offsets covered.
		outs = append(outs, outChunk{base: first, minTS: -1, maxTS: -1})
	}
	inputs := make([]segment.ChunkInput, len(outs))
	var raw int64
	for i, o := range outs {
		inputs[i] = segment.ChunkInput{
			TopicID: p.TopicID, Partition: p.Partition, BaseOffset: o.base,
			Batches: o.batches, Records: o.records, MinTimestamp: o.minTS, MaxTimestamp: o.maxTS, Data: o.data,
		}
		raw += int64(len(o.data))
	}
	sw := metastore.ChunkSwap{
		TopicID: p.TopicID, Partition: p.Partition,
		Old: make([]metastore.ChunkRef, len(rows)),
		New: make([]metastore.Chunk, len(outs)),
	}
	for i, r := range rows {
		sw.Old[i] = r.Ref()
	}
	for i := range outs {
		e := end
		if i+1 < len(outs) {
			e = outs[i+1].base
		}
		sw.New[i] = metastore.Chunk{BaseOffset: outs[i].base, EndOffset: e, BatchCount: outs[i].batches, MaxTimestamp: outs[i].maxTS}
	}
	return &built{swap: sw, inputs: inputs, raw: raw, removed: removed}, nil
}

// clean key-compacts a partition of a compacted topic: it maps every key of
// the rows written since the last cleaning (from cleaned) to its last
// offset, then rewrites the rows from the log start up to the end of the
// mapped ones, keeping for each key only records at or after that offset
// and dropping tombstones older than delete.retention.ms. The new
// checkpoint is stored with the last swap.
func (c *Compactor) clean(ctx context.Context, p metastore.Partition, rows []metastore.Chunk, cleaned int64, pol topicconfig.Policy, st *Stats) error {
	f := &filter{latest: make(map[string]int64), skipUnchanged: true,
		horizon: c.now().UnixMilli() - pol.DeleteRetentionMs, protect: math.MaxInt64}
	rows, tf, err := c.stableRows(ctx, p, rows)
	if err != nil || len(rows) == 0 {
		return err
	}
	f.txns = tf
	dirty := 0
	for dirty < len(rows) && rows[dirty].EndOffset <= cleaned {
		dirty++
	}
	end := len(rows) // rows[:end] are rewritten
	var mapBytes, lastBatch int64
scan:
	for i := dirty; i < len(rows); {
		n := c.groupSize(rows[i:])
		datas, err := c.readChunks(ctx, rows[i:i+n])
		if err != nil {
			return err
		}
		for k := range datas {
			for j := range datas[k].batches {
				b := &datas[k].batches[j]
				if !f.mapped(b) {
					lastBatch = b.base
					continue
				}
				recs, err := recordbatch.DecodeRecords(c.decomp, b.data, b.h, b.base)
				if err != nil {
					return fmt.Errorf("%w: object %s: %w", ErrCorrupt, rows[i+k].ObjectKey, err)
				}
				for r := range recs {
					key := recs[r].Key
					if key == nil {
						continue
					}
					if _, ok := f.latest[string(key)]; !ok {
						mapBytes += int64(len(key)) + keyEntryOverhead
					}
					f.latest[string(key)] = recs[r].Offset
				}
				lastBatch = b.base
			}
			if mapBytes >= c.cfg.KeyMapMaxBytes && i+k+1 < len(rows) {
				end = i + k + 1
				break scan
			}
		}
		i += n
	}
	if end == len(rows) {
		f.protect = lastBatch
	}
	checkpoint := rows[end-1].EndOffset

	var pending *object
	for i := 0; i < end; {
		n := c.groupSize(rows[i:end])
		bt, err := c.build(ctx, p, rows[i:i+n], f)
		if err != nil {
			return err
		}
		i += n
		if bt == nil {
			continue
		}
		o, err := c.writeAlone(ctx, bt)
		if err != nil {
			return err
		}
		if pending != nil {
			if err := c.swapAlone(ctx, pending, st); err != nil {
				return err
			}
		}
		pending = o
		if err := c.checkLease(ctx); err != nil {
			return err
		}
	}
	if pending == nil {
		return nil
	}
	pending.merges[0].swap.CleanedOffset = checkpoint
	return c.swapAlone(ctx, pending, st)
}
