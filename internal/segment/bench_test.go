package segment

import (
	"testing"

	"github.com/klauspost/compress/zstd"
)

// benchWorkload is 4 MiB of ~1 KiB JSON-like records in Kafka batches of 16,
// spread over 64 partitions: a busy level 0 segment.
func benchWorkload() ([]ChunkInput, int64) {
	chunks := workload(42, 64, 4<<20)
	var raw int64
	for _, c := range chunks {
		raw += int64(len(c.Data))
	}
	return chunks, raw
}

func BenchmarkEncode(b *testing.B) {
	chunks, raw := benchWorkload()
	var size int
	b.SetBytes(raw)
	b.ReportAllocs()
	for b.Loop() {
		obj, _, err := Encode(Level0, chunks)
		if err != nil {
			b.Fatal(err)
		}
		size = len(obj)
	}
	b.ReportMetric(float64(raw)/float64(size), "ratio")
}

func BenchmarkEncodeParallel(b *testing.B) {
	chunks, raw := benchWorkload()
	b.SetBytes(raw)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := Encode(Level0, chunks); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecodeChunk decodes every chunk of the object, as a reader that
// fetched a whole level 0 object does.
func BenchmarkDecodeChunk(b *testing.B) {
	chunks, raw := benchWorkload()
	obj, infos, err := Encode(Level0, chunks)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(raw)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range infos {
			if _, err := DecodeChunk(obj[c.Start:c.End()], c.RawLength); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadChunk adds the CRC32C check of the compressed bytes.
func BenchmarkReadChunk(b *testing.B) {
	chunks, raw := benchWorkload()
	obj, infos, err := Encode(Level0, chunks)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(raw)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range infos {
			if _, err := ReadChunk(c, obj[c.Start:c.End()]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDecodeFooter(b *testing.B) {
	obj, _, err := Encode(Level0, workload(43, 1000, 1000*100))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFooter(obj); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncoderLevel compares zstd levels on the same chunks; it is how
// the compression of each object level was chosen. "events" is the
// benchmark workload (64 KiB chunks); "logs" has log lines from a small
// vocabulary instead of random payloads; the -1MiB variants use the larger
// chunks of level 1 objects.
func BenchmarkEncoderLevel(b *testing.B) {
	events, _ := benchWorkload()
	logs := workloadWith(44, 64, 4<<20, logRecord)
	// Level 1 chunks are larger: the same records in 1 MiB chunks.
	events1M := workloadWith(42, 4, 4<<20, jsonRecord)
	logs1M := workloadWith(44, 4, 4<<20, logRecord)
	for _, data := range []struct {
		name   string
		chunks []ChunkInput
	}{{"events", events}, {"logs", logs}, {"events-1MiB", events1M}, {"logs-1MiB", logs1M}} {
		for _, v := range []struct {
			name      string
			lvl       zstd.EncoderLevel
			noEntropy bool
		}{
			{zstd.SpeedFastest.String(), zstd.SpeedFastest, false},
			// Without entropy coding: what level 0 would gain in speed
			// for the bytes it would lose.
			{zstd.SpeedFastest.String() + "-noentropy", zstd.SpeedFastest, true},
			{zstd.SpeedDefault.String(), zstd.SpeedDefault, false},
			{zstd.SpeedBetterCompression.String(), zstd.SpeedBetterCompression, false},
		} {
			b.Run(data.name+"/"+v.name, func(b *testing.B) {
				enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(v.lvl), zstd.WithEncoderCRC(true),
					zstd.WithWindowSize(MaxWindowSize), zstd.WithSingleSegment(true), zstd.WithNoEntropyCompression(v.noEntropy))
				if err != nil {
					b.Fatal(err)
				}
				var buf []byte
				var raw int64
				for _, c := range data.chunks {
					raw += int64(len(c.Data))
				}
				b.SetBytes(raw)
				for b.Loop() {
					buf = buf[:0]
					for _, c := range data.chunks {
						buf = enc.EncodeAll(c.Data, buf)
					}
				}
				b.ReportMetric(float64(raw)/float64(len(buf)), "ratio")
			})
		}
	}
}
