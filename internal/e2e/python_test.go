package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producedMeta is what kafka-python's RecordMetadata told a producer script.
type producedMeta struct {
	topic     string
	partition int64
	offset    int64
}

// parseProducerOutput parses the three lines (topic, partition, offset) a
// producer script prints per record.
func parseProducerOutput(t testing.TB, out string) []producedMeta {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines)%3 != 0 {
		t.Fatalf("output has %d lines, want three per record:\n%s", len(lines), out)
	}
	var ms []producedMeta
	for i := 0; i < len(lines); i += 3 {
		ms = append(ms, producedMeta{
			topic:     strings.TrimSpace(lines[i]),
			partition: atoi(t, lines[i+1]),
			offset:    atoi(t, lines[i+2]),
		})
	}
	return ms
}

// TestKafkaPythonArticleExamples runs the kafka-python producer examples a
// user copies from an article, unmodified: they hard-code localhost:9092,
// so strata dev listens there. Each record's printed metadata must be
// plausible (the topic, one of the 3 auto-created partitions, offsets
// 0, 1, 2, ... per partition) and franz-go must read back exactly the bytes
// sent at exactly the printed partition and offset.
func TestKafkaPythonArticleExamples(t *testing.T) {
	python := pythonProg.require(t)
	const addr = "127.0.0.1:9092"
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the article examples need port 9092, which is taken (%v): stop whatever listens there (a local Kafka or strata dev?)", err)
	}
	l.Close()
	// kafka-python may resolve localhost to ::1 first: nothing may answer
	// there either, or the scripts would talk to it.
	if c, err := net.DialTimeout("tcp", "[::1]:9092", time.Second); err == nil {
		c.Close()
		t.Fatal("something listens on [::1]:9092; the article examples would reach it instead of strata")
	}
	s := startStrata(t, modeDev, strataOpts{KafkaAddr: addr, InProcess: true})

	datetime := func(day int, clock string) string { return fmt.Sprintf("2024-03-%02dT%sZ", day, clock) }
	for _, tc := range []struct {
		script string
		topic  string
		n      int
		key    func(i int) string // "" for none
		value  func(i int) string
	}{
		{
			script: "producer.py", topic: "my-topic", n: 10,
			key:   func(int) string { return "" },
			value: func(i int) string { return fmt.Sprintf("message %d", i) },
		},
		{
			script: "producer_json.py", topic: "json-topic", n: 5,
			key: func(i int) string { return fmt.Sprintf(`{"user": %d}`, i) },
			value: func(i int) string {
				return fmt.Sprintf(`{"user": %d, "message": "hello %d", "tags": ["a", "b"]}`, i, i)
			},
		},
		{
			script: "producer_datetime.py", topic: "datetime-topic", n: 5,
			key:   func(i int) string { return datetime(1+i, "12:30:00.250000") },
			value: func(i int) string { return datetime(1+i, "12:30:01.750000") },
		},
	} {
		t.Run(strings.TrimSuffix(tc.script, ".py"), func(t *testing.T) {
			out := run(t, 2*time.Minute, "", python, filepath.Join("testdata", tc.script))
			metas := parseProducerOutput(t, out)
			if len(metas) != tc.n {
				t.Fatalf("%s printed metadata of %d records, want %d:\n%s", tc.script, len(metas), tc.n, out)
			}
			next := map[int64]int64{}
			for i, m := range metas {
				if m.topic != tc.topic {
					t.Errorf("record %d: topic %q, want %q", i, m.topic, tc.topic)
				}
				if m.partition < 0 || m.partition >= 3 {
					t.Errorf("record %d: partition %d, want one of the 3 of an auto-created topic", i, m.partition)
				}
				if m.offset != next[m.partition] {
					t.Errorf("record %d: offset %d in partition %d, want %d", i, m.offset, m.partition, next[m.partition])
				}
				next[m.partition] = m.offset + 1
			}
			if t.Failed() {
				t.Fatalf("output:\n%s", out)
			}

			got := consumeAll(t, s.KafkaAddr, tc.topic)
			if n := countRecords(got); n != tc.n {
				t.Fatalf("topic %s holds %d records, want %d", tc.topic, n, tc.n)
			}
			for i, m := range metas {
				rs := got[int32(m.partition)]
				if m.offset >= int64(len(rs)) {
					t.Fatalf("record %d: nothing at partition %d offset %d", i, m.partition, m.offset)
				}
				r := rs[m.offset]
				wantKey := tc.key(i)
				if string(r.Key) != wantKey || (wantKey == "") != (r.Key == nil) {
					t.Errorf("record %d (partition %d offset %d): key %q, want %q", i, m.partition, m.offset, r.Key, wantKey)
				}
				if string(r.Value) != tc.value(i) {
					t.Errorf("record %d (partition %d offset %d): value %q, want %q", i, m.partition, m.offset, r.Value, tc.value(i))
				}
			}
		})
	}
}

func countRecords(got map[int32][]*kgo.Record) int {
	n := 0
	for _, rs := range got {
		n += len(rs)
	}
	return n
}

// TestKafkaPythonAssignSeek reads a topic back with kafka-python without a
// consumer group: assigned partitions start at the earliest offset by the
// reset policy, then again after seek_to_beginning, then from offset 4
// after seek.
func TestKafkaPythonAssignSeek(t *testing.T) {
	python := pythonProg.require(t)
	forEachMode(t, func(t *testing.T, mode string) {
		s := startStrata(t, mode, strataOpts{InProcess: true})
		const topic, partitions, perPartition, seekTo = "py-assign", 3, 10, 4
		createTopic(t, s.KafkaAddr, topic, partitions)
		// Debian's kafka-python has no snappy (franz-go's default): gzip.
		cl := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(kgo.GzipCompression()))
		var recs []*kgo.Record
		for p := range partitions {
			for j := range perPartition {
				recs = append(recs, &kgo.Record{
					Partition: int32(p),
					Key:       fmt.Appendf(nil, "k%d-%d", p, j),
					Value:     fmt.Appendf(nil, "v%d-%d", p, j),
				})
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}

		out := run(t, 2*time.Minute, "", python, filepath.Join("testdata", "consume_assign.py"),
			s.KafkaAddr, topic, fmt.Sprint(partitions), fmt.Sprint(seekTo))
		phases := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			phase, rest, _ := strings.Cut(line, " ")
			phases[phase] = append(phases[phase], rest)
		}
		expect := func(from int) []string {
			var want []string
			for p := range partitions {
				for j := from; j < perPartition; j++ {
					want = append(want, fmt.Sprintf("%d %d k%d-%d v%d-%d", p, j, p, j, p, j))
				}
			}
			return want
		}
		var wantEnds []string
		for p := range partitions {
			wantEnds = append(wantEnds, fmt.Sprintf("%d %d", p, perPartition))
		}
		for phase, want := range map[string][]string{
			"end":   wantEnds,
			"reset": expect(0),
			"begin": expect(0),
			"seek":  expect(seekTo),
		} {
			got := byPartition(phases[phase])
			if !slices.Equal(got, want) {
				t.Errorf("%s: read\n  %s\nwant\n  %s", phase, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		}
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	})
}

// byPartition orders "PARTITION OFFSET ..." lines by partition, keeping
// the order read within each partition.
func byPartition(lines []string) []string {
	out := slices.Clone(lines)
	slices.SortStableFunc(out, func(a, b string) int {
		pa, _, _ := strings.Cut(a, " ")
		pb, _, _ := strings.Cut(b, " ")
		return strings.Compare(pa, pb)
	})
	return out
}
