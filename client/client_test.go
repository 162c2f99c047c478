package client_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/client"
)

var topicSeq atomic.Int64

// newClient connects to the shared strata dev.
func newClient(t testing.TB, opts ...client.Option) *client.Client {
	t.Helper()
	return newClientAt(t, dev.KafkaAddr, opts...)
}

func newClientAt(t testing.TB, brokers string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, append([]client.Option{client.WithBrokers(brokers)}, opts...)...)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// newTopic creates a topic with a name unique to the test.
func newTopic(t testing.TB, c *client.Client, partitions int32) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", "#", "-").Replace(t.Name()), topicSeq.Add(1))
	if _, err := c.Admin().CreateTopic(testCtx(t), name, partitions, nil); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

// testCtx is a context that ends with the test or after a minute.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Event is a record value with the shapes JSON users send: nested objects,
// timestamps, numbers.
type Event struct {
	User  string         `json:"user"`
	Seq   int            `json:"seq"`
	At    time.Time      `json:"at"`
	Attrs map[string]any `json:"attrs"`
}

// readAll reads every partition of topic from the beginning without a group
// until want records arrived.
func readAll[K, V any](t testing.TB, c *client.Client, topic string, want int, keys client.Serde[K], values client.Serde[V]) []client.Message[K, V] {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	cons, err := client.NewConsumer(ctx, c, "", []string{topic}, keys, values)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	var got []client.Message[K, V]
	err = cons.Run(ctx, func(_ context.Context, m client.Message[K, V]) error {
		got = append(got, m)
		if len(got) == want {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(got) != want {
		t.Fatalf("read %d records of %s before the deadline, want %d", len(got), topic, want)
	}
	return got
}

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := freeAddrs(1) // nothing listens there any more
	if err != nil {
		t.Fatal(err)
	}
	addr := addrs[0]
	_, err = client.New(ctx, client.WithBrokers(addr))
	if !errors.Is(err, client.ErrBrokerUnreachable) {
		t.Fatalf("New on a closed port: %v, want ErrBrokerUnreachable", err)
	}
	var bu *client.BrokerUnreachableError
	if !errors.As(err, &bu) || !reflect.DeepEqual(bu.Addrs, []string{addr}) {
		t.Fatalf("error %v does not name the address tried (%s)", err, addr)
	}
	var ce *client.Error
	if !errors.As(err, &ce) || !ce.Retriable {
		t.Errorf("unreachable broker: want a retriable *client.Error, got %#v", err)
	}
	for _, want := range []string{addr, "strata dev", "make dev"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNewReadsBrokersFromEnvironment(t *testing.T) {
	t.Setenv("STRATA_BROKERS", "127.0.0.1:1, "+dev.KafkaAddr)
	c, err := client.New(testCtx(t))
	if err != nil {
		t.Fatalf("New with STRATA_BROKERS naming a live broker second: %v", err)
	}
	defer c.Close()
	if got := c.Brokers(); !reflect.DeepEqual(got, []string{"127.0.0.1:1", dev.KafkaAddr}) {
		t.Errorf("Brokers() = %v", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string][]client.Option{
		"no brokers":      {client.WithBrokers()},
		"comma in addr":   {client.WithBrokers("a:1,b:2")},
		"zone with '='":   {client.WithZone("a=b")},
		"negative linger": {client.WithLinger(-time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := client.New(testCtx(t), opts...)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Op != "new client" || errors.Is(err, client.ErrBrokerUnreachable) {
				t.Fatalf("New: %v, want a configuration error", err)
			}
		})
	}
}

func TestProduceToMissingPartition(t *testing.T) {
	c := newClient(t)
	topic := newTopic(t, c, 2)
	_, err := c.Produce(testCtx(t), topic, nil, []byte("x"), client.WithPartition(5))
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Op != "produce" || ce.Resource != topic || ce.Hint == "" {
		t.Fatalf("produce to partition 5 of 2: %v, want a *client.Error with a hint", err)
	}
	off, err := c.Produce(testCtx(t), topic, nil, []byte("x"), client.WithPartition(1))
	if err != nil || off.Partition != 1 {
		t.Fatalf("produce to partition 1: %+v, %v", off, err)
	}
}

func TestAdminErrorsSayWhatToDo(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	topic := newTopic(t, c, 1)
	admin := c.Admin()

	_, err := admin.CreateTopic(ctx, topic, 1, nil)
	assertKafkaError(t, "create existing topic", err, client.ErrTopicExists, "delete")

	_, err = admin.DescribeTopic(ctx, topic+"-missing")
	assertKafkaError(t, "describe missing topic", err, client.ErrUnknownTopic, "strata topics create")

	_, err = admin.CreateTopic(ctx, "bad/name", 1, nil)
	assertKafkaError(t, "create invalid name", err, client.ErrInvalidTopic, "[a-zA-Z0-9._-]")

	err = admin.DeleteTopic(ctx, topic+"-missing")
	assertKafkaError(t, "delete missing topic", err, client.ErrUnknownTopic, "")
}

func assertKafkaError(t *testing.T, what string, err, want error, hint string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
		return
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Errorf("%s: %T is not a *client.Error", what, err)
		return
	}
	if ce.Retriable {
		t.Errorf("%s: marked retriable", what)
	}
	if !strings.Contains(ce.Hint, hint) {
		t.Errorf("%s: hint %q does not mention %q", what, ce.Hint, hint)
	}
}

func TestAlterTopicConfigs(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	admin := c.Admin()
	topic := newTopic(t, c, 1)
	topicConfigs := func() map[string]string {
		t.Helper()
		info, err := admin.DescribeTopic(ctx, topic)
		if err != nil {
			t.Fatalf("DescribeTopic: %v", err)
		}
		out := map[string]string{}
		for _, e := range info.Configs {
			if e.Source == "topic" {
				out[e.Name] = e.Value
			}
		}
		return out
	}
	if err := admin.AlterTopicConfigs(ctx, topic, map[string]string{"retention.ms": "60000", "retention.bytes": "1048576"}, nil); err != nil {
		t.Fatalf("set: %v", err)
	}
	if got, want := topicConfigs(), map[string]string{"retention.ms": "60000", "retention.bytes": "1048576"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after set: topic configs %v, want %v", got, want)
	}
	if err := admin.AlterTopicConfigs(ctx, topic, nil, []string{"retention.bytes"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got, want := topicConfigs(), map[string]string{"retention.ms": "60000"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after delete: topic configs %v, want %v", got, want)
	}
	err := admin.AlterTopicConfigs(ctx, topic, map[string]string{"retention.ms": "soon"}, nil)
	if !errors.Is(err, client.ErrInvalidConfig) {
		t.Errorf("retention.ms=soon: %v, want ErrInvalidConfig", err)
	}
}

func TestListTopicsAndCluster(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	a, b := newTopic(t, c, 2), newTopic(t, c, 5)
	topics, err := c.Admin().ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for i, tp := range topics {
		if i > 0 && topics[i-1].Name >= tp.Name {
			t.Errorf("topics not sorted: %q before %q", topics[i-1].Name, tp.Name)
		}
		if len(tp.ID) != 36 {
			t.Errorf("topic %s: id %q is not a UUID", tp.Name, tp.ID)
		}
		found[tp.Name] = tp.Partitions
	}
	if found[a] != 2 || found[b] != 5 {
		t.Errorf("ListTopics: %s has %d partitions, %s has %d; want 2 and 5", a, found[a], b, found[b])
	}
	cl, err := c.Admin().Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Brokers) != 1 || fmt.Sprintf("%s:%d", cl.Brokers[0].Host, cl.Brokers[0].Port) != dev.KafkaAddr {
		t.Fatalf("Cluster brokers %+v, want one at %s", cl.Brokers, dev.KafkaAddr)
	}
	if cl.Topics < 2 || cl.Partitions < 7 || cl.Brokers[0].Leaders+cl.Leaderless != cl.Partitions {
		t.Errorf("Cluster %+v: leaders and leaderless partitions do not add up", cl)
	}
}

func TestStartPositions(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	topic := newTopic(t, c, 1)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		if _, err := c.Produce(ctx, topic, nil, fmt.Append(nil, i), client.WithTimestamp(base.Add(time.Duration(i)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	first := func(pos client.Position) int64 {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		cons, err := client.NewConsumer(rctx, c, "", []string{topic}, client.Bytes{}, client.String{}, client.StartAt(pos))
		if err != nil {
			t.Fatal(err)
		}
		got := int64(-1)
		err = cons.Run(rctx, func(_ context.Context, m client.Message[[]byte, string]) error {
			got = m.Offset
			return client.ErrStop
		})
		if err != nil {
			t.Fatalf("%v: %v", pos, err)
		}
		return got
	}
	for _, tc := range []struct {
		pos  client.Position
		want int64
	}{
		{client.Beginning(), 0},
		{client.AtOffset(3), 3},
		{client.AtTime(base.Add(90 * time.Minute)), 2},
		{client.AtTime(base.Add(2 * time.Hour)), 2},
	} {
		if got := first(tc.pos); got != tc.want {
			t.Errorf("start at %v: first offset %d, want %d", tc.pos, got, tc.want)
		}
	}

	// End: only what is produced after the consumer started.
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cons, err := client.NewConsumer(rctx, c, "", []string{topic}, client.Bytes{}, client.String{}, client.StartAt(client.End()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int64, 1)
	go func() {
		got := int64(-1)
		cons.Run(rctx, func(_ context.Context, m client.Message[[]byte, string]) error {
			got = m.Offset
			return client.ErrStop
		})
		done <- got
	}()
	// Keep producing until the consumer, once positioned, sees a record.
	for {
		if _, err := c.Produce(ctx, topic, nil, []byte("late")); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if got < 5 {
				t.Fatalf("start at end: read offset %d, produced before the consumer started", got)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestZoneClient(t *testing.T) {
	// A zoned client must work against a broker with no zone: rack-aware
	// partitioning falls back to every partition.
	c := newClient(t, client.WithZone("zone-a"), client.WithClientID("zoned"))
	topic := newTopic(t, c, 3)
	for i := range 10 {
		if _, err := c.Produce(testCtx(t), topic, nil, fmt.Append(nil, i)); err != nil {
			t.Fatalf("produce with a zone: %v", err)
		}
	}
	readAll(t, c, topic, 10, client.Bytes{}, client.Bytes{})
}

func TestCompressionCodecs(t *testing.T) {
	for _, codec := range []client.Compression{client.Gzip, client.Snappy, client.LZ4, client.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			c := newClient(t, client.WithCompression(codec))
			topic := newTopic(t, c, 1)
			value := []byte(strings.Repeat("compressible ", 200))
			if _, err := c.Produce(testCtx(t), topic, nil, value); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, c, topic, 1, client.Bytes{}, client.Bytes{})
			if string(got[0].Value) != string(value) {
				t.Fatalf("value changed through %v", codec)
			}
		})
	}
}

// BenchmarkProduceSync measures one goroutine producing and waiting for
// each acknowledgement: one seal of the broker per record.
func BenchmarkProduceSync(b *testing.B) {
	c := newClient(b)
	topic := newTopic(b, c, 3)
	ctx := testCtx(b)
	value := make([]byte, 256)
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := c.Produce(ctx, topic, nil, value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProduceAsync measures pipelined producing, the way to get
// throughput from one goroutine.
func BenchmarkProduceAsync(b *testing.B) {
	c := newClient(b)
	topic := newTopic(b, c, 3)
	ctx := testCtx(b)
	value := make([]byte, 256)
	b.SetBytes(int64(len(value)))
	var failed atomic.Int64
	for b.Loop() {
		c.ProduceAsync(ctx, topic, nil, value, func(_ client.Offset, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d records failed", n)
	}
}
