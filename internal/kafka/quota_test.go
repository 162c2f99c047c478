package kafka

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

func ptr(s string) *string { return &s }

func userEntity(name *string) kadm.ClientQuotaEntity {
	return kadm.ClientQuotaEntity{{Type: "user", Name: name}}
}

// quotaStrings renders described quotas as sorted "entity key=value" lines.
func quotaStrings(qs kadm.DescribedClientQuotas) []string {
	var out []string
	for _, q := range qs {
		for _, v := range q.Values {
			out = append(out, fmt.Sprintf("%s %s=%g", q.Entity, v.Key, v.Value))
		}
	}
	slices.Sort(out)
	return out
}

func TestClientQuotaAPIs(t *testing.T) {
	s := startServer(t, noDataPath{})
	_, adm := s.clients(t)
	ctx := testContext(t)

	set := func(key string, v float64) kadm.AlterClientQuotaOp {
		return kadm.AlterClientQuotaOp{Key: key, Value: v}
	}
	entries := []kadm.AlterClientQuotaEntry{
		{Entity: userEntity(ptr("alice")), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1048576), set("request_percentage", 25.5)}},
		{Entity: userEntity(nil), Ops: []kadm.AlterClientQuotaOp{set("consumer_byte_rate", 2e6)}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: ptr("app")}}, Ops: []kadm.AlterClientQuotaOp{set("request_percentage", 50)}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: ptr("alice")}, {Type: "client-id", Name: nil}}, Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 5e5)}},
		// Invalid, each alone: the valid entries around them still apply.
		{Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: ptr("10.0.0.1")}}, Ops: []kadm.AlterClientQuotaOp{set("connection_creation_rate", 5)}},
		{Entity: userEntity(ptr("bob")), Ops: []kadm.AlterClientQuotaOp{set("no_such_key", 1)}},
		{Entity: userEntity(ptr("bob")), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1.5)}},
		{Entity: userEntity(ptr("bob")), Ops: []kadm.AlterClientQuotaOp{set("consumer_byte_rate", -1)}},
		{Entity: userEntity(ptr("bob")), Ops: []kadm.AlterClientQuotaOp{set("request_percentage", 10), set("request_percentage", 20)}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: ptr("bob")}, {Type: "user", Name: ptr("carol")}}, Ops: []kadm.AlterClientQuotaOp{set("request_percentage", 10)}},
		{Entity: kadm.ClientQuotaEntity{{Type: "group", Name: ptr("g")}}, Ops: []kadm.AlterClientQuotaOp{set("request_percentage", 10)}},
		{Entity: userEntity(ptr("bob\x00")), Ops: []kadm.AlterClientQuotaOp{set("request_percentage", 10)}},
		{Entity: nil, Ops: []kadm.AlterClientQuotaOp{set("request_percentage", 10)}},
	}
	const valid = 4

	// validate_only checks every entry and changes nothing.
	check := func(res kadm.AlteredClientQuotas, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(entries) {
			t.Fatalf("%d results for %d entries", len(res), len(entries))
		}
		for i, r := range res {
			if i < valid && r.Err != nil {
				t.Errorf("entry %d %s: %v %s", i, entries[i].Entity, r.Err, r.ErrMessage)
			}
			if i >= valid && !errors.Is(r.Err, kerr.InvalidRequest) {
				t.Errorf("entry %d %s: %v, want INVALID_REQUEST", i, entries[i].Entity, r.Err)
			}
			if i >= valid && r.ErrMessage == "" {
				t.Errorf("entry %d %s: no message says what is wrong", i, entries[i].Entity)
			}
		}
	}
	check(adm.ValidateAlterClientQuotas(ctx, entries))
	if qs, err := adm.DescribeClientQuotas(ctx, false, nil); err != nil || len(qs) != 0 {
		t.Fatalf("after validate_only: %v, %v; want nothing stored", quotaStrings(qs), err)
	}
	check(adm.AlterClientQuotas(ctx, entries))

	all := []string{
		"{client-id=app} request_percentage=50",
		"{user=<default>} consumer_byte_rate=2e+06",
		"{user=alice, client-id=<default>} producer_byte_rate=500000",
		"{user=alice} producer_byte_rate=1.048576e+06",
		"{user=alice} request_percentage=25.5",
	}
	for _, tc := range []struct {
		name   string
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   []string
	}{
		{"everything", false, nil, all},
		{"strict and no component", true, nil, nil},
		{"user alice", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0, MatchName: ptr("alice")}}, all[2:]},
		{"user alice strict", true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0, MatchName: ptr("alice")}}, all[3:]},
		{"default user", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 1}}, all[1:2]},
		{"any user strict", true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 2}}, []string{all[1], all[3], all[4]}},
		{"any client-id", false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}}, []string{all[0], all[2]}},
		{"user alice and default client-id", true, []kadm.DescribeClientQuotaComponent{
			{Type: "user", MatchType: 0, MatchName: ptr("alice")}, {Type: "client-id", MatchType: 1}}, all[2:3]},
		{"unknown user", false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0, MatchName: ptr("nobody")}}, nil},
		{"ip", false, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchType: 2}}, nil},
	} {
		want := tc.want
		qs, err := adm.DescribeClientQuotas(ctx, tc.strict, tc.comps)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := quotaStrings(qs); !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, want)
		}
	}
	for _, comps := range [][]kadm.DescribeClientQuotaComponent{
		{{Type: "user", MatchType: 2}, {Type: "user", MatchType: 1}},
		{{Type: "user", MatchType: 0}},
		{{Type: "user", MatchType: 7}},
		{{Type: "group", MatchType: 2}},
		{{Type: "ip", MatchType: 2}, {Type: "user", MatchType: 2}},
	} {
		if _, err := adm.DescribeClientQuotas(ctx, false, comps); !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("describe %+v: %v, want INVALID_REQUEST", comps, err)
		}
	}

	// Removing a key keeps the entity's others; removing the last one
	// removes the entity.
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: userEntity(ptr("alice")), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Remove: true}}},
		{Entity: userEntity(nil), Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}}},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("remove: %+v, %v", res, err)
	}
	qs, err := adm.DescribeClientQuotas(ctx, false, nil)
	if got, want := quotaStrings(qs), []string{all[0], all[2], all[3]}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("after removes: %q, %v; want %q", got, err, want)
	}
}

func TestClientQuotaPrecedence(t *testing.T) {
	// Every one of Kafka's eight entities sets producer_byte_rate to its
	// rank; removing them one by one, the best remaining one applies.
	u := metastore.QuotaPart{Kind: metastore.QuotaNamed, Name: "alice"}
	c := metastore.QuotaPart{Kind: metastore.QuotaNamed, Name: "app"}
	d := metastore.QuotaPart{Kind: metastore.QuotaDefault}
	order := []metastore.QuotaEntity{
		{User: u, ClientID: c}, {User: u, ClientID: d}, {User: u},
		{User: d, ClientID: c}, {User: d, ClientID: d}, {User: d},
		{ClientID: c}, {ClientID: d},
	}
	wantKey := []sensorKey{
		{hasUser: true, hasCli: true, user: "alice", client: "app"},
		{hasUser: true, hasCli: true, user: "alice", client: "app"},
		{hasUser: true, user: "alice"},
		{hasUser: true, hasCli: true, user: "alice", client: "app"},
		{hasUser: true, hasCli: true, user: "alice", client: "app"},
		{hasUser: true, user: "alice"},
		{hasCli: true, client: "app"},
		{hasCli: true, client: "app"},
	}
	for first := range order {
		var qs []metastore.ClientQuota
		for i := first; i < len(order); i++ {
			qs = append(qs, metastore.ClientQuota{Entity: order[i], Values: map[string]float64{metastore.QuotaProducerByteRate: float64(i + 1)}})
		}
		// Entities of other users and clients never apply.
		qs = append(qs, metastore.ClientQuota{Entity: metastore.QuotaEntity{User: metastore.QuotaPart{Kind: metastore.QuotaNamed, Name: "bob"}},
			Values: map[string]float64{metastore.QuotaProducerByteRate: 99}})
		b := newQuotaBook(qs, 1)
		v, k, ok := b.bound(quotaProduce, "alice", "app")
		if !ok || v != float64(first+1) {
			t.Errorf("from entity %d on: bound %v, %v; want %d", first, v, ok, first+1)
		}
		wantKey[first].t = quotaProduce
		if k != wantKey[first] {
			t.Errorf("from entity %d on: rate %+v, want %+v", first, k, wantKey[first])
		}
		if _, _, ok := b.bound(quotaFetch, "alice", "app"); ok {
			t.Errorf("a fetch quota found where only produce quotas are set")
		}
	}
	if _, _, ok := newQuotaBook(nil, 1).bound(quotaRequest, "alice", "app"); ok {
		t.Error("a quota found in an empty book")
	}
}

func TestQuotaRateWindows(t *testing.T) {
	// Kafka's Rate: 11 windows of 1 s; a client's first bytes are measured
	// over at least 10 s, later ones over the samples' real span.
	const window = int64(time.Second)
	s := &rateSensor{samples: make([]rateSample, 11)}
	t0 := int64(1e18)
	if r, span := s.record(1000, t0, window); r != 100 || span != 10*window {
		t.Fatalf("first record: rate %v over %v, want 100 over 10 s", r, time.Duration(span))
	}
	// 1000 a second for 30 s: the rate settles at 1000 over 10-11 s.
	var r float64
	var span int64
	for i := int64(1); i <= 30; i++ {
		r, span = s.record(1000, t0+i*window, window)
	}
	if span < 10*window || span > 11*window || r < 900 || r > 1100 {
		t.Fatalf("steady 1000/s: rate %v over %v", r, time.Duration(span))
	}
	// Idle for longer than every window together: forgotten.
	if r, _ := s.record(10, t0+100*window, window); r != 1 {
		t.Fatalf("after a long idle spell: rate %v, want 10 over 10 s", r)
	}
}

// quotaProducer produces records of size bytes to topic as fast as the
// client lets it, counting the value bytes acknowledged, until ctx ends.
// The values are random: a quota counts the bytes on the wire, and the
// client compresses nothing (see TestProducerQuotaThrottles), so they are about the
// bytes counted here.
func quotaProducer(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, size int, acked *atomic.Int64) {
	value := make([]byte, size)
	rand.Read(value)
	for ctx.Err() == nil {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(r *kgo.Record, err error) {
			if err == nil {
				acked.Add(int64(len(r.Value)))
			} else if ctx.Err() == nil {
				t.Errorf("produce to %s: %v", topic, err)
			}
		})
	}
}

// throttleHook sums the throttle times a client's brokers ask for.
type throttleHook struct{ total atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.total.Add(int64(d))
}

// rateOver measures the bytes per second a counter gains over d.
func rateOver(ctx context.Context, d time.Duration, counters ...*atomic.Int64) []float64 {
	before := make([]int64, len(counters))
	for i, c := range counters {
		before[i] = c.Load()
	}
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	el := time.Since(start).Seconds()
	out := make([]float64, len(counters))
	for i, c := range counters {
		out[i] = float64(c.Load()-before[i]) / el
	}
	return out
}

// TestProducerQuotaThrottles: a producer whose client id has a 1 MB/s
// producer_byte_rate is held to it, within 20%, while a producer without a
// quota on the same node goes on at its own pace.
func TestProducerQuotaThrottles(t *testing.T) {
	s := startServer(t, func(c *Config) {
		// Windows of 100 ms: a new client's unthrottled start is
		// about one second's worth, not Kafka's ten.
		c.Quotas.WindowSize = 100 * time.Millisecond
	})
	ctx := testContext(t)
	const quota = 1_000_000
	_, adm := s.clients(t)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "limited", "free"); err != nil {
		t.Fatal(err)
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: ptr("limited")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: quota}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set quota: %+v, %v", res, err)
	}
	producer := func(id string, hook *throttleHook) *kgo.Client {
		cl, _ := s.clients(t, kgo.ClientID(id), kgo.ProducerBatchMaxBytes(64<<10), kgo.ProducerLinger(0),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.WithHooks(hook), kgo.MaxBufferedRecords(512))
		return cl
	}
	var limitedHook, freeHook throttleHook
	limited, free := producer("limited", &limitedHook), producer("unlimited", &freeHook)

	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var limitedBytes, freeBytes atomic.Int64
	done := make(chan struct{}, 2)
	go func() { quotaProducer(pctx, t, free, "free", 1000, &freeBytes); done <- struct{}{} }()
	alone := rateOver(ctx, 3*time.Second, &freeBytes)[0]

	go func() { quotaProducer(pctx, t, limited, "limited", 1000, &limitedBytes); done <- struct{}{} }()
	// The limited producer's unthrottled start, and its first throttled
	// responses, whose delays lag behind a busy machine: measured after.
	rateOver(ctx, 4*time.Second)
	rates := rateOver(ctx, 8*time.Second, &limitedBytes, &freeBytes)
	stop()
	<-done
	<-done
	t.Logf("limited producer: %.0f B/s (quota %d B/s, throttled %v in all); unlimited: %.0f B/s alone, %.0f B/s beside it (throttled %v)",
		rates[0], quota, time.Duration(limitedHook.total.Load()), alone, rates[1], time.Duration(freeHook.total.Load()))
	if rates[0] < 0.8*quota || rates[0] > 1.2*quota {
		t.Errorf("limited producer at %.0f B/s, want within 20%% of %d", rates[0], quota)
	}
	if limitedHook.total.Load() == 0 {
		t.Error("the limited producer's responses never carried a throttle time")
	}
	if alone < 3*quota {
		t.Fatalf("unlimited producer alone at %.0f B/s: too slow here to tell a quota from the machine", alone)
	}
	// Not slowed: well above the quota, and not throttled by it. (The
	// two share the node's cores, so some slowdown is the machine's.)
	if rates[1] < 3*quota || rates[1] < 0.5*alone {
		t.Errorf("unlimited producer at %.0f B/s beside the limited one, %.0f B/s alone", rates[1], alone)
	}
	if got := testutil.ToFloat64(s.quotas.throttled.WithLabelValues("produce")); got == 0 {
		t.Error("strata_kafka_quota_throttled_responses_total{quota=produce} is 0")
	}
	if got := testutil.ToFloat64(s.quotas.throttled.WithLabelValues("request")); got != 0 {
		t.Errorf("throttled by the request quota %v times; none is set", got)
	}
}

// TestQuotaMutesConnection: after a throttled response the connection
// reads nothing for the throttle time, even from a client that ignores
// throttle_time_ms (KIP-219).
func TestQuotaMutesConnection(t *testing.T) {
	s := startServer(t, noDataPath{}, func(c *Config) { c.Quotas.WindowSize = 10 * time.Millisecond })
	ctx := testContext(t)
	_, adm := s.clients(t)
	// A millionth of a core for every client id: any request exceeds
	// it, and is throttled for the longest time, the measured span of
	// 110 ms.
	if res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: nil}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 0.0001}},
	}}); err != nil || res[0].Err != nil {
		t.Fatalf("set quota: %+v, %v", res, err)
	}
	c := s.dial(t)
	req := kmsg.NewPtrMetadataRequest()
	var throttle time.Duration
	for i := 0; throttle == 0; i++ {
		if i == 100 {
			t.Fatal("100 requests and no throttle")
		}
		resp := c.roundTrip(req, 12).(*kmsg.MetadataResponse)
		throttle = time.Duration(resp.ThrottleMillis) * time.Millisecond
	}
	if throttle > 110*time.Millisecond {
		t.Fatalf("throttle %v, above the measured span of 110 ms", throttle)
	}
	sent := time.Now()
	c.roundTrip(req, 12)
	if waited := time.Since(sent); waited < throttle-5*time.Millisecond {
		t.Fatalf("next request answered after %v; the connection should have been muted for %v", waited, throttle)
	}
	// ApiVersions is never throttled.
	av := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	if av.ThrottleMillis != 0 {
		t.Fatalf("ApiVersions throttled %d ms", av.ThrottleMillis)
	}
}

// TestConsumerQuotaThrottles: a consumer whose client id has a 1 MB/s
// consumer_byte_rate reads at that rate, within 20%, while a consumer
// without a quota reads the same records from the same node at its own
// pace.
func TestConsumerQuotaThrottles(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Quotas.WindowSize = 100 * time.Millisecond })
	ctx := testContext(t)
	const quota = 1_000_000
	const total = 12 << 20
	// Batches of 16 KiB: a fetch returns at least one whole batch,
	// whatever its max bytes, and the consumers below ask for 64 KiB.
	cl, adm := s.clients(t, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(16<<10))
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "read"); err != nil {
		t.Fatal(err)
	}
	var produced atomic.Int64
	pctx, stop := context.WithCancel(ctx)
	value := make([]byte, 1000)
	for produced.Load() < total {
		rand.Read(value)
		r := &kgo.Record{Topic: "read", Value: append([]byte(nil), value...)}
		cl.Produce(pctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
		produced.Add(int64(len(value)))
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: ptr("slow-reader")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: quota}},
	}}); err != nil || res[0].Err != nil {
		t.Fatalf("set quota: %+v, %v", res, err)
	}

	cctx, cancelSlow := context.WithCancel(ctx)
	defer cancelSlow()
	consumer := func(id string, read *atomic.Int64, hook *throttleHook) {
		c, _ := s.clients(t, kgo.ClientID(id), kgo.ConsumeTopics("read"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(64<<10), kgo.WithHooks(hook))
		for cctx.Err() == nil && read.Load() < total {
			fs := c.PollFetches(cctx)
			fs.EachRecord(func(r *kgo.Record) { read.Add(int64(len(r.Value))) })
		}
	}
	var slowRead, fastRead atomic.Int64
	var slowHook, fastHook throttleHook
	fastDone := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		consumer("fast-reader", &fastRead, &fastHook)
		fastDone <- time.Since(start)
	}()
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		consumer("slow-reader", &slowRead, &slowHook)
	}()
	rateOver(cctx, 2*time.Second) // the unthrottled start
	slow := rateOver(cctx, 6*time.Second, &slowRead)[0]
	fast := float64(total) / (<-fastDone).Seconds()
	cancelSlow()
	<-slowDone
	t.Logf("limited consumer: %.0f B/s (quota %d B/s, throttled %v); unlimited consumer: %.0f B/s (throttled %v)",
		slow, quota, time.Duration(slowHook.total.Load()), fast, time.Duration(fastHook.total.Load()))
	if slow < 0.8*quota || slow > 1.2*quota {
		t.Errorf("limited consumer at %.0f B/s, want within 20%% of %d", slow, quota)
	}
	if fast < 3*quota {
		t.Errorf("unlimited consumer at %.0f B/s, not well above the other's quota", fast)
	}
	if fastHook.total.Load() != 0 {
		t.Errorf("the unlimited consumer was throttled %v", time.Duration(fastHook.total.Load()))
	}
}

// BenchmarkQuotaAccounting is what client quotas cost a request: none
// stored, and a quota that applies to the request's client but never
// throttles it (the request quota, and the produce one for Produce).
func BenchmarkQuotaAccounting(b *testing.B) {
	store := newTestStore(b)
	q := newQuotas(context.Background(), QuotaConfig{}, store, testLogger(b), nil)
	resp := kmsg.NewPtrProduceResponse()
	run := func(b *testing.B) {
		ctx := context.Background()
		q.reload(ctx)
		r := &request{key: kmsg.Produce.Int16(), clientID: "bench", conn: &conn{principal: anonymousPrincipal}}
		b.ReportAllocs()
		for b.Loop() {
			c := q.begin(r, 16<<10)
			c.handled()
			if c.throttle(resp) != 0 {
				b.Fatal("throttled")
			}
		}
	}
	b.Run("no-quotas", run)
	if err := store.AlterClientQuotas(context.Background(), []metastore.ClientQuotaAlteration{{
		Entity: metastore.QuotaEntity{ClientID: metastore.QuotaPart{Kind: metastore.QuotaDefault}},
		Set:    map[string]float64{metastore.QuotaProducerByteRate: 1e15, metastore.QuotaRequestPercentage: 1e9},
	}}); err != nil {
		b.Fatal(err)
	}
	b.Run("quota-applies", run)
}
