package reader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/segment"
)

// BenchmarkDecodeChunk measures what a reader pays to make a 1 MiB chunk
// servable (zstd decode, batch checks and index): the work Committed would
// do per chunk if it decoded eagerly, and what the first read of a chunk
// pays instead.
func BenchmarkDecodeChunk(b *testing.B) {
	var data []byte
	var batches int32
	var records int64
	for len(data) < 1<<20 {
		vals := make([]string, 50)
		for i := range vals {
			vals[i] = fmt.Sprintf("user-%06d %s", int(records)+i, strings.Repeat("payload ", 12))
		}
		data = append(data, batchtest.Values(batchtest.NoProducer, vals...)...)
		batches++
		records += 50
	}
	obj, infos, err := segment.Encode(0, []segment.ChunkInput{{
		TopicID: uuid.New(), BaseOffset: -1, Batches: batches, Records: records, Data: data,
	}})
	if err != nil {
		b.Fatal(err)
	}
	info := infos[0]
	compressed := obj[info.Start : info.Start+info.Length]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeChunk(compressed, info.RawLength, 64<<20); err != nil {
			b.Fatal(err)
		}
	}
}
