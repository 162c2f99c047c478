package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDefaultBrokers(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got := defaultConfig(getenv).brokers; len(got) != 1 || got[0] != DefaultBrokers {
		t.Errorf("no environment: brokers %v, want [%s]", got, DefaultBrokers)
	}
	env[BrokersEnv] = " a:1, ,b:2 "
	if got := fmt.Sprint(defaultConfig(getenv).brokers); got != "[a:1 b:2]" {
		t.Errorf("%s=%q: brokers %s", BrokersEnv, env[BrokersEnv], got)
	}
}

func TestZoneGoesIntoClientID(t *testing.T) {
	cfg := defaultConfig(func(string) string { return "" })
	if got := cfg.effectiveClientID(); got != DefaultClientID {
		t.Errorf("no zone: client id %q", got)
	}
	WithClientID("billing")(&cfg)
	WithZone("eu-west-1a")(&cfg)
	if got := cfg.effectiveClientID(); got != "billing,zone=eu-west-1a" {
		t.Errorf("client id %q, want billing,zone=eu-west-1a", got)
	}
	kc, err := kgo.NewClient(cfg.producerOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if got := kc.OptValue(kgo.ClientID); got != "billing,zone=eu-west-1a" {
		t.Errorf("franz-go client id %v", got)
	}
	if got := kc.OptValue(kgo.Rack); got != "eu-west-1a" {
		t.Errorf("franz-go rack %v, want the zone", got)
	}
}

func TestProducerDefaults(t *testing.T) {
	cfg := defaultConfig(func(string) string { return "" })
	kc, err := kgo.NewClient(cfg.producerOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	for _, tc := range []struct {
		opt  any
		want any
	}{
		{kgo.ProducerLinger, DefaultLinger},
		{kgo.MaxBufferedRecords, int64(DefaultMaxBufferedRecords)},
		{kgo.MaxBufferedBytes, int64(DefaultMaxBufferedBytes)},
	} {
		if got := kc.OptValue(tc.opt); got != tc.want {
			t.Errorf("%T: %v (%T), want %v", tc.opt, got, got, tc.want)
		}
	}
	codecs := kc.OptValues(kgo.ProducerBatchCompression)
	if len(codecs) != 1 || fmt.Sprint(codecs[0]) != fmt.Sprint([]kgo.CompressionCodec{kgo.NoCompression()}) {
		t.Errorf("compression %v, want none", codecs)
	}
}

func TestPartitionerHonoursExplicitPartition(t *testing.T) {
	tp := newPartitioner().ForTopic("t").(*topicPartitioner)
	keyed := &kgo.Record{Key: []byte("k")}
	want := tp.PartitionByBackup(keyed, 8, nil)
	for range 10 {
		if got := tp.PartitionByBackup(&kgo.Record{Key: []byte("k")}, 8, nil); got != want {
			t.Fatalf("key k went to %d then %d", want, got)
		}
	}
	r := newRecord("t", []byte("k"), nil, []RecordOption{WithPartition(int32((want + 3) % 8))})
	if !tp.RequiresConsistency(r) {
		t.Error("an explicit partition must not be moved to another partition")
	}
	if got := tp.PartitionByBackup(r, 8, nil); got != (want+3)%8 {
		t.Errorf("WithPartition(%d): partitioned to %d", (want+3)%8, got)
	}
	if tp.RequiresConsistency(&kgo.Record{}) {
		t.Error("an unkeyed record without a partition may go anywhere")
	}
}

func TestWrapClassifies(t *testing.T) {
	c := &Client{cfg: config{brokers: []string{"h:1"}}}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name      string
		err       error
		is        error
		retriable bool
		hint      string
	}{
		{"dial", dial, ErrBrokerUnreachable, true, ""},
		{"closed", kgo.ErrClientClosed, ErrClosed, false, ""},
		{"exists", kerr.TopicAlreadyExists, ErrTopicExists, false, "delete"},
		{"coordinator", kerr.NotCoordinator, kerr.NotCoordinator, true, "retry"},
		{"timeout", context.DeadlineExceeded, context.DeadlineExceeded, false, ""},
		{"wrapped kerr", fmt.Errorf("x: %w", kerr.UnknownTopicOrPartition), ErrUnknownTopic, false, "strata topics create"},
	} {
		err := c.wrap("op", "res", tc.err)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, tc.is) || e.Retriable != tc.retriable || !strings.Contains(e.Hint, tc.hint) {
			t.Errorf("%s: wrap gave %#v (%v)", tc.name, err, err)
		}
		if again := c.wrap("other", "", err); again != err {
			t.Errorf("%s: wrapping twice changed the error", tc.name)
		}
	}
	if c.wrap("op", "", nil) != nil {
		t.Error("wrap(nil) != nil")
	}
	msg := c.wrap("create topic", "orders", kerr.TopicAlreadyExists).Error()
	if !strings.HasPrefix(msg, `create topic "orders": TOPIC_ALREADY_EXISTS`) {
		t.Errorf("message %q", msg)
	}
}

func TestPositions(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	for _, tc := range []struct {
		p    Position
		want string
	}{
		{Beginning(), "beginning"},
		{End(), "end"},
		{AtOffset(7), "offset 7"},
		{AtTime(at.UTC()), "time 2023-11-14T22:13:20Z"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%v: String() = %q", tc.want, got)
		}
	}
	if got := AtOffset(7).kgoOffset().EpochOffset().Offset; got != 7 {
		t.Errorf("AtOffset(7) -> franz-go offset %d", got)
	}
}

// BenchmarkDecodeMessage measures the conversion of a fetched record into
// a typed Message, which every consumed record goes through.
func BenchmarkDecodeMessage(b *testing.B) {
	cs := &Consumer[string, []byte]{keys: String{}, values: Bytes{}}
	r := &kgo.Record{Topic: "t", Key: []byte("user-1"), Value: make([]byte, 512), Timestamp: time.Now(),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs.decode(r); err != nil {
			b.Fatal(err)
		}
	}
}
