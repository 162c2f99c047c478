package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatRecord is one line of kcat -C -f '%p|%o|%T|%k|%s|%h\n'.
type kcatRecord struct {
	partition int64
	offset    int64
	timestamp int64
	key       string
	value     string
	headers   string
}

const kcatFormat = `%p|%o|%T|%k|%s|%h\n`

// kcat runs kcat against broker with args and input, and returns its
// standard output.
func kcat(t testing.TB, broker, input string, args ...string) string {
	t.Helper()
	return run(t, time.Minute, input, kcatProg.require(t), append([]string{"-b", broker}, args...)...)
}

// kcatConsume reads a whole topic from the beginning with kcat.
func kcatConsume(t testing.TB, broker, topic string, args ...string) []kcatRecord {
	t.Helper()
	out := kcat(t, broker, "", append([]string{"-C", "-t", topic, "-e", "-q", "-f", kcatFormat}, args...)...)
	var recs []kcatRecord
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "|", 6)
		if len(f) != 6 {
			t.Fatalf("kcat output line %q: want 6 fields", line)
		}
		recs = append(recs, kcatRecord{
			partition: atoi(t, f[0]), offset: atoi(t, f[1]), timestamp: atoi(t, f[2]),
			key: f[3], value: f[4], headers: f[5],
		})
	}
	return recs
}

// TestKcat drives strata with kcat (librdkafka): metadata listing, keys and
// headers, offsets by timestamp and every producer compression codec.
func TestKcat(t *testing.T) {
	kcatProg.require(t)
	forEachMode(t, func(t *testing.T, mode string) {
		s := startStrata(t, mode, strataOpts{})
		b := s.KafkaAddr
		t.Run("metadata", func(t *testing.T) { testKcatMetadata(t, b) })
		t.Run("keys-headers", func(t *testing.T) { testKcatKeysHeaders(t, b) })
		t.Run("offsets-by-time", func(t *testing.T) { testKcatOffsetsByTime(t, b) })
		t.Run("compression", func(t *testing.T) { testKcatCompression(t, b) })
	})
}

func testKcatMetadata(t *testing.T, b string) {
	const topic = "kcat-meta"
	// Producing to an unknown topic creates it with 3 partitions.
	kcat(t, b, "hello\n", "-P", "-t", topic)

	out := kcat(t, b, "", "-L")
	for _, want := range []string{
		"1 brokers:",
		"broker 0 at " + b,
		fmt.Sprintf("topic %q with 3 partitions:", topic),
		"partition 0, leader 0,",
		"partition 2, leader 0,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kcat -L output lacks %q:\n%s", want, out)
		}
	}

	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Error      string `json:"error"`
			Partitions []struct {
				Partition int32  `json:"partition"`
				Leader    int32  `json:"leader"`
				Error     string `json:"error"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	out = kcat(t, b, "", "-L", "-J", "-t", topic)
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 0 || md.Brokers[0].Name != b {
		t.Errorf("brokers %+v, want one: id 0 at %s", md.Brokers, b)
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != topic || md.Topics[0].Error != "" {
		t.Fatalf("topics %+v, want %s without error", md.Topics, topic)
	}
	var parts []int32
	for _, p := range md.Topics[0].Partitions {
		if p.Leader != 0 || p.Error != "" {
			t.Errorf("partition %+v: want leader 0 and no error", p)
		}
		parts = append(parts, p.Partition)
	}
	slices.Sort(parts)
	if !slices.Equal(parts, []int32{0, 1, 2}) {
		t.Errorf("partitions %v, want [0 1 2]", parts)
	}
}

func testKcatKeysHeaders(t *testing.T, b string) {
	const topic, n = "kcat-keys", 30
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "key-%02d:value %02d: with a colon\n", i, i)
	}
	kcat(t, b, in.String(), "-P", "-t", topic, "-K:", "-H", "h1=v1", "-H", "h2=two words")

	recs := kcatConsume(t, b, topic, "-o", "beginning")
	if len(recs) != n {
		t.Fatalf("read %d records, want %d: %+v", len(recs), n, recs)
	}
	// Records of one partition come in offset order, which must be the
	// produce order; offsets count from 0.
	lastKey := map[int64]string{}
	nextOff := map[int64]int64{}
	seen := map[string]bool{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(r.key, "key-%02d", &i); err != nil {
			t.Fatalf("unexpected key %q", r.key)
		}
		if seen[r.key] {
			t.Fatalf("key %q read twice", r.key)
		}
		seen[r.key] = true
		if want := fmt.Sprintf("value %02d: with a colon", i); r.value != want {
			t.Errorf("key %q: value %q, want %q", r.key, r.value, want)
		}
		if r.headers != "h1=v1,h2=two words" {
			t.Errorf("key %q: headers %q, want %q", r.key, r.headers, "h1=v1,h2=two words")
		}
		if r.offset != nextOff[r.partition] {
			t.Errorf("key %q: partition %d offset %d, want %d", r.key, r.partition, r.offset, nextOff[r.partition])
		}
		nextOff[r.partition] = r.offset + 1
		if r.key <= lastKey[r.partition] {
			t.Errorf("partition %d: key %q after %q, not in produce order", r.partition, r.key, lastKey[r.partition])
		}
		lastKey[r.partition] = r.key
	}
	if len(nextOff) < 2 {
		t.Errorf("all %d keys went to one partition; want them spread by key hash over 3", n)
	}
}

func testKcatOffsetsByTime(t *testing.T, b string) {
	const topic = "kcat-time"
	before := time.Now().UnixMilli()
	kcat(t, b, "w1-a\nw1-b\nw1-c\nw1-d\n", "-P", "-t", topic)
	// kcat has delivered the first wave and exited; every timestamp it set
	// is at most mid - 1. The second wave starts after mid.
	mid := time.Now().UnixMilli() + 1
	waitFor(t, time.Second, "the clock to pass mid", func() bool { return time.Now().UnixMilli() > mid })
	kcat(t, b, "w2-a\nw2-b\nw2-c\nw2-d\nw2-e\n", "-P", "-t", topic)

	values := func(recs []kcatRecord) []string {
		var vs []string
		for _, r := range recs {
			vs = append(vs, r.value)
		}
		slices.Sort(vs)
		return vs
	}
	all := kcatConsume(t, b, topic, "-o", "beginning")
	for _, r := range all {
		wave1 := strings.HasPrefix(r.value, "w1-")
		if wave1 && (r.timestamp < before || r.timestamp >= mid) || !wave1 && r.timestamp < mid {
			t.Errorf("record %q: timestamp %d; first wave in [%d, %d), second from %d", r.value, r.timestamp, before, mid, mid)
		}
	}
	if got, want := values(all), []string{"w1-a", "w1-b", "w1-c", "w1-d", "w2-a", "w2-b", "w2-c", "w2-d", "w2-e"}; !slices.Equal(got, want) {
		t.Fatalf("from the beginning: %v, want %v", got, want)
	}
	if got, want := values(kcatConsume(t, b, topic, "-o", fmt.Sprintf("s@%d", mid))), []string{"w2-a", "w2-b", "w2-c", "w2-d", "w2-e"}; !slices.Equal(got, want) {
		t.Errorf("from timestamp %d (between the waves): %v, want %v", mid, got, want)
	}
	if got := values(kcatConsume(t, b, topic, "-o", fmt.Sprintf("s@%d", before-60_000))); len(got) != len(all) {
		t.Errorf("from a minute before the first wave: %v, want all %d records", got, len(all))
	}
	if got := kcatConsume(t, b, topic, "-o", fmt.Sprintf("s@%d", time.Now().UnixMilli()+60_000)); len(got) != 0 {
		t.Errorf("from a minute in the future: %+v, want nothing", got)
	}
}

func testKcatCompression(t *testing.T, b string) {
	codecs := []struct {
		name string
		code uint8 // the batch attribute, as franz-go reports it
	}{{"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "kcat-z-" + c.name
			const n = 200
			var in strings.Builder
			var want []string
			for i := range n {
				// Repetitive values, so that compression pays and
				// librdkafka keeps the compressed batch.
				v := fmt.Sprintf("%s record %03d %s", c.name, i, strings.Repeat("compressible ", 8))
				want = append(want, v)
				in.WriteString(v + "\n")
			}
			kcat(t, b, in.String(), "-P", "-t", topic, "-z", c.name, "-p", "0")

			recs := kcatConsume(t, b, topic, "-o", "beginning", "-p", "0")
			var got []string
			for i, r := range recs {
				if r.offset != int64(i) {
					t.Fatalf("record %d at offset %d", i, r.offset)
				}
				got = append(got, r.value)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("read back %d records that differ from the %d produced: first %q..., want %q...", len(got), len(want), first(got), first(want))
			}

			// The stored batches are the producer's, compressed as sent.
			var mu sync.Mutex
			types := map[uint8]int{}
			consumeAll(t, b, topic, kgo.WithHooks(batchHook(func(ct uint8) {
				mu.Lock()
				types[ct]++
				mu.Unlock()
			})))
			mu.Lock()
			defer mu.Unlock()
			if len(types) != 1 || types[c.code] == 0 {
				t.Errorf("fetched batches by compression type %v, want all %d (%s): kcat -z %s did not store compressed batches "+
					"(librdkafka sends a codec only if the broker's ApiVersions allow it; kcat -d msg logs why not)", types, c.code, c.name, c.name)
			}
		})
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// batchHook reports the compression type of every fetched batch.
type batchHook func(compression uint8)

func (h batchHook) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	h(m.CompressionType)
}
