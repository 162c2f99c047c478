package metastore

import "math"

// ChunksFromResults rebuilds the chunk rows that a successful CommitSegment
// inserted, from the segment and its per-chunk results. The ingest path uses
// it to tell the local reader what became readable without another query.
func ChunksFromResults(seg SegmentSpec, results []ChunkResult) []Chunk {
	var out []Chunk
	for i, spec := range seg.Chunks {
		if i >= len(results) || results[i].Err != nil || len(results[i].Batches) != len(spec.Batches) {
			continue
		}
		res := results[i]
		c := Chunk{
			TopicID:      spec.TopicID,
			Partition:    spec.Partition,
			BaseOffset:   -1,
			ObjectKey:    seg.ObjectKey,
			ObjectSize:   seg.ObjectSize,
			Start:        spec.Start,
			Length:       spec.Length,
			RawLength:    spec.RawLength,
			BatchCount:   int32(len(spec.Batches)),
			MaxTimestamp: math.MinInt64,
		}
		for j, b := range res.Batches {
			if b.Err != nil || b.Duplicate {
				c.Skip = append(c.Skip, int32(j))
				continue
			}
			if c.BaseOffset < 0 {
				c.BaseOffset = b.BaseOffset
			}
			c.EndOffset = b.BaseOffset + int64(spec.Batches[j].OffsetCount)
			if ts := spec.Batches[j].MaxTimestamp; ts > c.MaxTimestamp {
				c.MaxTimestamp = ts
			}
		}
		if c.BaseOffset >= 0 {
			out = append(out, c)
		}
	}
	return out
}
