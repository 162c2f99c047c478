package e2e

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/client"
)

// The SDK (client/) is a module of its own whose tests run strata dev only,
// so that its users inherit no test services; its round trip against
// strata serve on PostgreSQL and S3 runs here, with dev alongside.

// TestRoundTripTypedJSON produces typed JSON records through the SDK,
// synchronously and asynchronously, and reads them back with its consumer:
// every record comes back once, equal to what was sent, at the offset its
// acknowledgement gave, in order per partition.
func TestRoundTripTypedJSON(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		// No compactor role: the records carry fixed 2025 timestamps,
		// which time-based retention (7 days by default) would delete
		// while the test still reads them.
		s := startStrata(t, mode, strataOpts{
			FlushInterval: 10 * time.Millisecond,
			Args:          []string{"-roles", "ingest,reader,coordinator,controller"},
		})
		sdkRoundTrip(t, s.KafkaAddr)
	})
}

// sdkEvent is a record value with the shapes JSON users send: nested
// objects, timestamps, numbers.
type sdkEvent struct {
	User  string         `json:"user"`
	Seq   int            `json:"seq"`
	At    time.Time      `json:"at"`
	Attrs map[string]any `json:"attrs"`
}

func sdkRoundTrip(t *testing.T, brokers string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, client.WithBrokers(brokers))
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	defer c.Close()
	const topic = "typed-json"
	if _, err := c.Admin().CreateTopic(ctx, topic, 3, nil); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	events := client.NewProducer(c, topic, client.String{}, client.JSON[sdkEvent]{})

	type sent struct {
		key   string
		event sdkEvent
		at    client.Offset
	}
	const n = 60
	base := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	var (
		mu   sync.Mutex
		all  []sent
		errs []error
	)
	for i := range n {
		key := fmt.Sprintf("user-%d", i%7)
		ev := sdkEvent{User: key, Seq: i, At: base.Add(time.Duration(i) * time.Minute),
			Attrs: map[string]any{"plan": "pro", "seats": float64(i), "tags": []any{"a", "b"}}}
		hdr := client.WithHeaders(client.Header{Key: "seq", Value: fmt.Append(nil, i)})
		ts := client.WithTimestamp(ev.At)
		if i%2 == 0 {
			off, err := events.Produce(ctx, key, ev, hdr, ts)
			if err != nil {
				t.Fatalf("Produce %d: %v", i, err)
			}
			mu.Lock()
			all = append(all, sent{key, ev, off})
			mu.Unlock()
			continue
		}
		events.ProduceAsync(ctx, key, ev, func(off client.Offset, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			all = append(all, sent{key, ev, off})
		}, hdr, ts)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("async produce failed: %v", errs)
	}
	if len(all) != n {
		t.Fatalf("%d acknowledgements, want %d", len(all), n)
	}

	keyPartition := map[string]int32{}
	byOffset := map[client.Offset]sent{}
	for _, s := range all {
		if p, ok := keyPartition[s.key]; ok && p != s.at.Partition {
			t.Errorf("key %s went to partitions %d and %d", s.key, p, s.at.Partition)
		}
		keyPartition[s.key] = s.at.Partition
		if prev, dup := byOffset[s.at]; dup {
			t.Fatalf("records %d and %d both acknowledged at %+v", prev.event.Seq, s.event.Seq, s.at)
		}
		byOffset[s.at] = s
	}

	// Read everything back without a group; the handler stops the
	// consumer at the first gap, reorder or unknown record.
	cons, err := client.NewConsumer(ctx, c, "", []string{topic}, client.String{}, client.JSON[sdkEvent]{})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	next := map[int32]int64{}
	read := 0
	runErr := cons.Run(ctx, func(_ context.Context, m client.Message[string, sdkEvent]) error {
		if m.Offset != next[m.Partition] {
			return fmt.Errorf("partition %d: read offset %d, want %d (gap or reorder)", m.Partition, m.Offset, next[m.Partition])
		}
		next[m.Partition]++
		want, ok := byOffset[client.Offset{Partition: m.Partition, Offset: m.Offset}]
		if !ok {
			return fmt.Errorf("read %d/%d, which no acknowledgement gave", m.Partition, m.Offset)
		}
		if m.Key != want.key || !reflect.DeepEqual(m.Value, want.event) {
			t.Errorf("at %d/%d read %s=%+v, want %s=%+v", m.Partition, m.Offset, m.Key, m.Value, want.key, want.event)
		}
		if !m.Timestamp.Equal(want.event.At) {
			t.Errorf("at %d/%d timestamp %v, want %v", m.Partition, m.Offset, m.Timestamp, want.event.At)
		}
		if len(m.Headers) != 1 || m.Headers[0].Key != "seq" || string(m.Headers[0].Value) != fmt.Sprint(want.event.Seq) {
			t.Errorf("at %d/%d headers %+v, want seq=%d", m.Partition, m.Offset, m.Headers, want.event.Seq)
		}
		if read++; read == n {
			return client.ErrStop
		}
		return nil
	})
	if runErr != nil || read != n {
		t.Fatalf("read %d records of %d: %v", read, n, runErr)
	}

	info, err := c.Admin().DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopic: %v", err)
	}
	var total int64
	for _, p := range info.Partitions {
		if p.HighWatermark != next[p.Partition] {
			t.Errorf("partition %d: high watermark %d, read %d records", p.Partition, p.HighWatermark, next[p.Partition])
		}
		total += p.Records()
	}
	if total != n || len(info.Partitions) != 3 {
		t.Errorf("describe: %d partitions holding %d records, want 3 holding %d", len(info.Partitions), total, n)
	}
}
