package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/crc32c"
)

func topic(n byte) [16]byte {
	var t [16]byte
	for i := range t {
		t[i] = n ^ byte(i*37)
	}
	return t
}

// kafkaBatch encodes values as one uncompressed Kafka v2 record batch.
func kafkaBatch(values [][]byte, baseTS int64) []byte {
	var body []byte
	for i, v := range values {
		rec := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: v}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		for int32(len(rec.AppendTo(nil))-varintLen(rec.Length)) != rec.Length {
			rec.Length = int32(len(rec.AppendTo(nil)) - varintLen(rec.Length))
		}
		body = rec.AppendTo(body)
	}
	kb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp:  baseTS, MaxTimestamp: baseTS + int64(len(values)) - 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(values)),
		Records:    body,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32c.Checksum(b[21:]))
	return b
}

func varintLen(v int32) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], int64(v))
}

var (
	events    = []string{"page_view", "add_to_cart", "checkout", "search", "login", "logout", "click"}
	countries = []string{"DE", "FR", "US", "BR", "JP", "IN", "GB", "NL"}
	agents    = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
	}
)

// jsonRecord returns a JSON-like event of about 1 KiB: repeated keys and
// vocabulary, random ids and an opaque random payload, as application logs
// and events tend to be.
func jsonRecord(rng *rand.Rand, ts int64) []byte {
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = "0123456789abcdef"[rng.IntN(16)]
	}
	rec := fmt.Sprintf(`{"timestamp":%d,"event":%q,"user_id":"u-%08d","session_id":"%016x%016x",`+
		`"page":{"path":"/catalog/%d/item/%d","referrer":"https://www.example.com/search?q=item%d","title":"Item %d - Example Shop"},`+
		`"client":{"user_agent":%q,"ip":"10.%d.%d.%d","country":%q,"language":"en-US","screen":{"width":%d,"height":%d}},`+
		`"cart":{"items":%d,"currency":"EUR","total":%d.%02d},"experiment":{"name":"checkout-flow","variant":%q},`+
		`"trace":{"trace_id":"%016x%016x","span_id":"%016x","sampled":%t},"payload":"%s","tags":["web","prod","eu-west-1","v2"]}`,
		ts, events[rng.IntN(len(events))], rng.IntN(1e7), rng.Uint64(), rng.Uint64(),
		rng.IntN(100), rng.IntN(10000), rng.IntN(500), rng.IntN(10000),
		agents[rng.IntN(len(agents))], rng.IntN(256), rng.IntN(256), rng.IntN(256), countries[rng.IntN(len(countries))],
		1280+rng.IntN(4)*320, 720+rng.IntN(4)*180,
		rng.IntN(12), rng.IntN(500), rng.IntN(100), []string{"a", "b", "c"}[rng.IntN(3)],
		rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.IntN(2) == 0, payload)
	return []byte(rec)
}

// logRecord returns a structured log line of about 1 KiB whose text comes
// from a small vocabulary.
func logRecord(rng *rand.Rand, ts int64) []byte {
	words := []string{"request", "completed", "upstream", "timeout", "retrying", "cache", "miss", "hit",
		"connection", "closed", "user", "order", "payment", "accepted", "rejected", "queue", "depth"}
	var msg []byte
	for len(msg) < 700 {
		msg = append(msg, words[rng.IntN(len(words))]...)
		msg = append(msg, ' ')
	}
	return []byte(fmt.Sprintf(`{"ts":%d,"level":%q,"service":"checkout-api","host":"ip-10-0-%d-%d","pod":"checkout-api-7d9f8b-%05d",`+
		`"trace_id":"%016x","status":%d,"duration_ms":%d,"msg":%q}`,
		ts, []string{"info", "warn", "error", "debug"}[rng.IntN(4)], rng.IntN(8), rng.IntN(256), rng.IntN(100000),
		rng.Uint64(), []int{200, 201, 404, 500, 503}[rng.IntN(5)], rng.IntN(2000), msg))
}

// workload builds level 0 chunk inputs: partitions chunks of real Kafka
// batches of 16 JSON-like records each, about total bytes in all.
func workload(seed uint64, partitions int, total int) []ChunkInput {
	return workloadWith(seed, partitions, total, jsonRecord)
}

// workloadWith is workload with records from gen.
func workloadWith(seed uint64, partitions int, total int, gen func(*rand.Rand, int64) []byte) []ChunkInput {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	chunks := make([]ChunkInput, partitions)
	per := total / partitions
	ts := int64(1_700_000_000_000)
	for p := range chunks {
		c := ChunkInput{TopicID: topic(byte(p % 3)), Partition: int32(p), BaseOffset: -1, MinTimestamp: ts}
		for len(c.Data) < per {
			vals := make([][]byte, 16)
			for i := range vals {
				vals[i] = gen(rng, ts+int64(i))
			}
			c.Data = append(c.Data, kafkaBatch(vals, ts)...)
			c.Batches++
			c.Records += int64(len(vals))
			ts += 16
		}
		c.MaxTimestamp = ts - 1
		chunks[p] = c
	}
	return chunks
}

// sentinel returns the package sentinel an error wraps, failing the test
// when it wraps none or several.
func sentinel(t testing.TB, err error) error {
	t.Helper()
	var found []error
	for _, s := range []error{ErrCorrupt, ErrTruncated, ErrUnsupported, ErrTooLarge, ErrInvalidInput} {
		if errors.Is(err, s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("error %v wraps %d sentinels, want 1", err, len(found))
	}
	return found[0]
}

// rewriteFooter replaces an object's footer and trailer with ones built from
// infos (CRCs valid), keeping the chunk bytes.
func rewriteFooter(t testing.TB, obj []byte, level uint8, infos []ChunkInfo) []byte {
	t.Helper()
	n, err := FooterLength(obj)
	if err != nil {
		t.Fatal(err)
	}
	data := obj[:len(obj)-int(n)]
	return appendFooter(append([]byte(nil), data...), level, infos)
}

// fixCRCs recomputes the footer and trailer CRCs of an object whose trailer
// length field is usable, so that a mutation reaches the semantic checks.
func fixCRCs(obj []byte) []byte {
	if len(obj) < TrailerSize {
		return obj
	}
	out := append([]byte(nil), obj...)
	t := out[len(out)-TrailerSize:]
	binary.BigEndian.PutUint32(t[8:], crc32c.Checksum(t[:8]))
	n := int(binary.BigEndian.Uint32(t[0:4]))
	if n < footerFixedSize || n > len(out)-TrailerSize {
		return out
	}
	f := out[len(out)-TrailerSize-n : len(out)-TrailerSize]
	binary.BigEndian.PutUint32(f[len(f)-4:], crc32c.Checksum(f[:len(f)-4]))
	return out
}
