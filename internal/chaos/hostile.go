package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topics of the hostile phase.
const (
	topicHostileLoad      = "chaos-hostile-load"
	topicHostileBomb      = "chaos-hostile-bomb"
	topicHostileCompacted = "chaos-hostile-bomb-compacted"
)

// HostileConfig sizes the hostile phase.
type HostileConfig struct {
	// Window is the length of the baseline and of the attack.
	Window time.Duration
	// MaxDrop is the largest accepted drop of the well-behaved clients'
	// throughput (0.2: 20%).
	MaxDrop float64
	// IdleConns is the number of connections that never send.
	IdleConns int
	// StalledConns is the number of connections that stop mid-frame.
	StalledConns int
	// Topics is the topic count of the huge Metadata request.
	Topics int
	// BombBytes is what each decompression bomb decompresses to.
	BombBytes int
}

func (c *HostileConfig) defaults() {
	if c.Window == 0 {
		c.Window = 8 * time.Second
	}
	if c.MaxDrop == 0 {
		c.MaxDrop = 0.2
	}
	if c.IdleConns == 0 {
		c.IdleConns = 2000
	}
	if c.StalledConns == 0 {
		c.StalledConns = 32
	}
	if c.Topics == 0 {
		c.Topics = 1_000_000
	}
	if c.BombBytes == 0 {
		c.BombBytes = 64 << 20
	}
}

// HostileReport is what the hostile phase measured on its target node.
type HostileReport struct {
	Node string `json:"node"`
	// Produced and Consumed are the well-behaved clients' records per
	// second, before and during the attack.
	ProducedBaseline float64 `json:"produced_baseline"`
	ProducedAttack   float64 `json:"produced_attack"`
	ConsumedBaseline float64 `json:"consumed_baseline"`
	ConsumedAttack   float64 `json:"consumed_attack"`
	// Drop is 1 - ProducedAttack/ProducedBaseline.
	Drop    float64 `json:"drop"`
	MaxDrop float64 `json:"max_drop"`
	// PeakRSS is the node's largest resident set seen during the phase;
	// RSSBudget what it is configured to stay under.
	PeakRSS   int64 `json:"peak_rss"`
	RSSBudget int64 `json:"rss_budget"`
	// NodeUp says whether the node stayed up and ready; NodeExit how it
	// died when not, and DiedAfter the attacks sent in the two seconds
	// before.
	NodeUp    bool            `json:"node_up"`
	NodeExit  string          `json:"node_exit,omitempty"`
	DiedAfter []string        `json:"died_after,omitempty"`
	Attacks   []*AttackResult `json:"attacks"`
	// BombTopics are the high watermarks of the topics the bombs went
	// to, after the attack: each accepted record moves one by one.
	BombTopics map[string]int64 `json:"bomb_topics"`
	Failures   []string         `json:"failures"`
}

// AttackResult counts the outcomes of one kind of hostile request.
type AttackResult struct {
	Name string `json:"name"`
	Sent int    `json:"sent"`
	// Outcomes: "closed" (the node closed the connection), "error CODE"
	// (a Kafka error answer), "answered" (an answer without error),
	// "no answer" (none within the wait), "open at end" (a connection
	// still open when the phase ended).
	Outcomes map[string]int `json:"outcomes"`
	// Slowest is the longest wait for an outcome.
	Slowest time.Duration `json:"slowest"`
}

func (r *HostileReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostile phase on %s: produce %.0f/s before, %.0f/s during the attack (drop %.0f%%, bound %.0f%%); consume %.0f/s, %.0f/s; peak RSS %d MiB (budget %d MiB); node up: %v",
		r.Node, r.ProducedBaseline, r.ProducedAttack, r.Drop*100, r.MaxDrop*100, r.ConsumedBaseline, r.ConsumedAttack, r.PeakRSS>>20, r.RSSBudget>>20, r.NodeUp)
	if !r.NodeUp {
		fmt.Fprintf(&b, " (%s; after %s)", r.NodeExit, strings.Join(r.DiedAfter, ", "))
	}
	for _, a := range r.Attacks {
		var outs []string
		for k, v := range a.Outcomes {
			outs = append(outs, fmt.Sprintf("%s: %d", k, v))
		}
		sort.Strings(outs)
		fmt.Fprintf(&b, "\n  %-34s sent %5d; %s; slowest %v", a.Name, a.Sent, strings.Join(outs, ", "), a.Slowest.Round(time.Millisecond))
	}
	for t, hwm := range r.BombTopics {
		fmt.Fprintf(&b, "\n  %s high watermark after the attack: %d", t, hwm)
	}
	for _, f := range r.Failures {
		b.WriteString("\n  FAILED: " + f)
	}
	return b.String()
}

// attackLog records which attack was sent when, to name the ones a node
// died after.
type attackLog struct {
	mu      sync.Mutex
	results map[string]*AttackResult
	sent    []sentAttack
}

type sentAttack struct {
	at   time.Time
	name string
}

func (l *attackLog) start(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.result(name)
	r.Sent++
	l.sent = append(l.sent, sentAttack{time.Now(), name})
}

func (l *attackLog) result(name string) *AttackResult {
	r, ok := l.results[name]
	if !ok {
		r = &AttackResult{Name: name, Outcomes: map[string]int{}}
		l.results[name] = r
	}
	return r
}

func (l *attackLog) outcome(name, outcome string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.result(name)
	r.Outcomes[outcome]++
	r.Slowest = max(r.Slowest, took)
}

func (l *attackLog) before(t time.Time, d time.Duration) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, s := range l.sent {
		if s.at.Before(t) && s.at.After(t.Add(-d)) && !seen[s.name] {
			seen[s.name] = true
			out = append(out, s.name)
		}
	}
	return out
}

// Hostile runs the hostile phase against one node: a baseline window of
// well-behaved producing and consuming pinned to the node, then a window
// of the same alongside hostile clients. It restarts the node if it died.
func Hostile(ctx context.Context, cfg HostileConfig, c *Cluster, target *Node, logf func(string, ...any)) (*HostileReport, error) {
	cfg.defaults()
	rep := &HostileReport{Node: target.Name, MaxDrop: cfg.MaxDrop, RSSBudget: NodeRSSBudget, NodeUp: true}
	if err := createHostileTopics(ctx, c.Brokers()); err != nil {
		return nil, err
	}
	// Everything is built before the baseline, so that the attack
	// window spends no harness CPU on building it.
	frames, err := buildHostileFrames(cfg)
	if err != nil {
		return nil, err
	}
	load, err := startLoad(ctx, target)
	if err != nil {
		return nil, err
	}
	defer load.stop()

	var peak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for sampleCtx.Err() == nil {
			if rss, err := target.RSS(); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			_ = sleepCtx(sampleCtx, 100*time.Millisecond)
		}
	}()

	// Warm up, then the baseline.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	p0, c0 := load.counts()
	if err := sleepCtx(ctx, cfg.Window); err != nil {
		return nil, err
	}
	p1, c1 := load.counts()
	rep.ProducedBaseline = float64(p1-p0) / cfg.Window.Seconds()
	rep.ConsumedBaseline = float64(c1-c0) / cfg.Window.Seconds()

	log := &attackLog{results: map[string]*AttackResult{}}
	actx, stopAttack := context.WithTimeout(ctx, cfg.Window)
	var attackers sync.WaitGroup
	for _, a := range hostileAttacks(target.KafkaAddr, frames, cfg) {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			a(actx, log)
		}()
	}
	died := make(chan time.Time, 1)
	go func() {
		for actx.Err() == nil {
			if !target.Running() {
				died <- time.Now()
				return
			}
			_ = sleepCtx(actx, 50*time.Millisecond)
		}
	}()
	<-actx.Done()
	p2, c2 := load.counts()
	stopAttack()
	attackers.Wait()
	stopSampling()
	sampler.Wait()
	rep.ProducedAttack = float64(p2-p1) / cfg.Window.Seconds()
	rep.ConsumedAttack = float64(c2-c1) / cfg.Window.Seconds()
	if rep.ProducedBaseline > 0 {
		rep.Drop = max(0, 1-rep.ProducedAttack/rep.ProducedBaseline)
	}
	rep.PeakRSS = peak.Load()
	names := make([]string, 0, len(log.results))
	for n := range log.results {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rep.Attacks = append(rep.Attacks, log.results[n])
	}

	rep.BombTopics = endOffsets(ctx, c.Brokers(), topicHostileBomb, topicHostileCompacted)
	select {
	case t := <-died:
		rep.NodeUp = false
		rep.NodeExit = target.Exited()
		rep.DiedAfter = log.before(t, 2*time.Second)
	default:
		if !target.Running() {
			rep.NodeUp, rep.NodeExit = false, target.Exited()
		} else if !target.Ready(ctx) {
			rep.NodeUp, rep.NodeExit = false, "running but not ready"
		}
	}
	if !rep.NodeUp {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%s went down: %s", target.Name, rep.NodeExit))
		if !target.Running() {
			if err := target.Start(ctx); err != nil {
				return rep, fmt.Errorf("chaos: restart %s after the hostile phase: %w", target.Name, err)
			}
		}
	}
	if rep.PeakRSS > rep.RSSBudget {
		rep.Failures = append(rep.Failures, fmt.Sprintf("peak RSS %d MiB above the budget of %d MiB", rep.PeakRSS>>20, rep.RSSBudget>>20))
	}
	if rep.Drop > rep.MaxDrop {
		rep.Failures = append(rep.Failures, fmt.Sprintf("well-behaved produce throughput dropped %.0f%%, more than %.0f%%", rep.Drop*100, rep.MaxDrop*100))
	}
	logf("%s", rep)
	return rep, nil
}

func createHostileTopics(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range []struct {
		name    string
		parts   int32
		configs map[string]*string
	}{
		{topicHostileLoad, 3, nil},
		{topicHostileBomb, 1, nil},
		{topicHostileCompacted, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}},
	} {
		r, err := adm.CreateTopic(ctx, t.parts, 1, t.configs, t.name)
		if err == nil {
			err = r.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("chaos: create %s: %w", t.name, err)
		}
	}
	return nil
}

// load is the well-behaved clients of the hostile phase: a producer and a
// consumer that name the target node's zone, so that Metadata sends them
// to it for every partition.
type load struct {
	prod, cons *kgo.Client
	produced   atomic.Int64
	consumed   atomic.Int64
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func startLoad(ctx context.Context, target *Node) (*load, error) {
	zone := "zone=" + target.Name
	prod, err := kgo.NewClient(kgo.SeedBrokers(target.KafkaAddr), kgo.ClientID(zone+",well-behaved-producer"),
		kgo.DefaultProduceTopic(topicHostileLoad), kgo.RecordDeliveryTimeout(10*time.Second), kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(2*time.Second))
	if err != nil {
		return nil, err
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(target.KafkaAddr), kgo.ClientID(zone+",well-behaved-consumer"), kgo.Rack(target.Name),
		kgo.ConsumeTopics(topicHostileLoad), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		prod.Close()
		return nil, err
	}
	l := &load{prod: prod, cons: cons}
	ctx, l.cancel = context.WithCancel(ctx)
	value := bytes.Repeat([]byte("w"), 1024)
	inflight := make(chan struct{}, 256)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case inflight <- struct{}{}:
			}
			prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err == nil {
					l.produced.Add(1)
				}
				<-inflight
			})
		}
	}()
	go func() {
		defer l.wg.Done()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			l.consumed.Add(int64(fs.NumRecords()))
		}
	}()
	return l, nil
}

func (l *load) counts() (produced, consumed int64) { return l.produced.Load(), l.consumed.Load() }

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	l.prod.Close()
	l.cons.Close()
}

// hostileFrames are the requests built before the attack.
type hostileFrames struct {
	metadataMillion      []byte // Metadata naming cfg.Topics topics
	metadataClaimed      []byte // Metadata claiming 2^31-1 topics, holding none
	createTopicsClaimed  []byte // CreateTopics claiming a million topics, holding none
	createTopicsMillion  []byte // CreateTopics (validate only) naming cfg.Topics topics
	createPartitionsHuge []byte // CreateTopics of one topic with a million partitions, validate only
	bombs                []namedFrame
}

type namedFrame struct {
	name  string
	frame []byte
}

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("chaos-hostile"))

// bodyOffset is where the body of a non-flexible request built by
// formatter starts: length, key, version, correlation id, client id.
var bodyOffset = 4 + 2 + 2 + 4 + 2 + len("chaos-hostile")

func buildHostileFrames(cfg HostileConfig) (*hostileFrames, error) {
	f := &hostileFrames{}

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 4
	md.AllowAutoTopicCreation = false
	md.Topics = make([]kmsg.MetadataRequestTopic, cfg.Topics)
	for i := range md.Topics {
		md.Topics[i].Topic = kmsg.StringPtr(fmt.Sprintf("hostile-%07d", i))
	}
	f.metadataMillion = formatter.AppendRequest(nil, md, 1)

	empty := kmsg.NewPtrMetadataRequest()
	empty.Version = 4
	empty.Topics = []kmsg.MetadataRequestTopic{}
	f.metadataClaimed = formatter.AppendRequest(nil, empty, 2)
	binary.BigEndian.PutUint32(f.metadataClaimed[bodyOffset:], 0x7fffffff)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 4
	ct.TimeoutMillis = 5000
	f.createTopicsClaimed = formatter.AppendRequest(nil, ct, 3)
	binary.BigEndian.PutUint32(f.createTopicsClaimed[bodyOffset:], 1_000_000)

	many := kmsg.NewPtrCreateTopicsRequest()
	many.Version = 4
	many.TimeoutMillis = 5000
	many.ValidateOnly = true
	many.Topics = make([]kmsg.CreateTopicsRequestTopic, cfg.Topics)
	for i := range many.Topics {
		many.Topics[i] = kmsg.CreateTopicsRequestTopic{Topic: fmt.Sprintf("hostile-%07d", i), NumPartitions: 1, ReplicationFactor: 1}
	}
	f.createTopicsMillion = formatter.AppendRequest(nil, many, 4)

	huge := kmsg.NewPtrCreateTopicsRequest()
	huge.Version = 4
	huge.TimeoutMillis = 5000
	huge.ValidateOnly = true
	huge.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "chaos-hostile-huge", NumPartitions: 1_000_000, ReplicationFactor: 1}}
	f.createPartitionsHuge = formatter.AppendRequest(nil, huge, 5)

	zeros := make([]byte, cfg.BombBytes)
	oneBig := encodeRecords(1, func(int) ([]byte, []byte) { return []byte("k"), zeros })
	// Many small records of one key: what a key check allocates an
	// entry for, one per record.
	n := 1 << 20
	key := func(int) ([]byte, []byte) { return []byte("k"), nil }
	manySmall := encodeRecords(n, key)
	// Ten records in a batch that claims 2^28.
	tenSmall := encodeRecords(10, key)
	for _, codec := range []struct {
		name string
		id   int8
	}{{"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}} {
		big, err := compress(codec.id, oneBig)
		if err != nil {
			return nil, err
		}
		small, err := compress(codec.id, manySmall)
		if err != nil {
			return nil, err
		}
		ten, err := compress(codec.id, tenSmall)
		if err != nil {
			return nil, err
		}
		for _, topic := range []string{topicHostileBomb, topicHostileCompacted} {
			short := "normal"
			if topic == topicHostileCompacted {
				short = "compacted"
			}
			f.bombs = append(f.bombs,
				namedFrame{fmt.Sprintf("bomb %s %s one %d MiB record", codec.name, short, cfg.BombBytes>>20), produceFrame(topic, batch(codec.id, 1, big))},
				namedFrame{fmt.Sprintf("bomb %s %s %d records", codec.name, short, n), produceFrame(topic, batch(codec.id, int32(n), small))},
				// A count that its records do not hold.
				namedFrame{fmt.Sprintf("bomb %s %s 10 records claiming 2^28", codec.name, short), produceFrame(topic, batch(codec.id, 1<<28, ten))},
			)
		}
	}
	return f, nil
}

// encodeRecords encodes n v2 records (no headers) one after the other.
func encodeRecords(n int, kv func(i int) (key, value []byte)) []byte {
	var out, rec []byte
	for i := range n {
		k, v := kv(i)
		rec = rec[:0]
		rec = append(rec, 0)                     // attributes
		rec = binary.AppendVarint(rec, 0)        // timestamp delta
		rec = binary.AppendVarint(rec, int64(i)) // offset delta
		rec = binary.AppendVarint(rec, int64(len(k)))
		rec = append(rec, k...)
		rec = binary.AppendVarint(rec, int64(len(v)))
		rec = append(rec, v...)
		rec = binary.AppendVarint(rec, 0) // headers
		out = binary.AppendVarint(out, int64(len(rec)))
		out = append(out, rec...)
	}
	return out
}

func compress(codec int8, raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case 1:
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case 2:
		return s2.EncodeSnappy(nil, raw), nil
	case 3:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case 4:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			return nil, err
		}
		defer enc.Close()
		return enc.EncodeAll(raw, nil), nil
	}
	return buf.Bytes(), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batch is a v2 record batch of compressed records claiming count
// records, with a valid CRC.
func batch(codec int8, count int32, records []byte) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(codec),
		LastOffsetDelta:      count - 1,
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           count,
		Records:              records,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[21:], castagnoli))
	return out
}

func produceFrame(topic string, batch []byte) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = 1
	req.TimeoutMillis = 10000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
	return formatter.AppendRequest(nil, req, 7)
}

// hostileAttacks are the attack loops; each runs until ctx ends.
func hostileAttacks(addr string, f *hostileFrames, cfg HostileConfig) []func(context.Context, *attackLog) {
	// once sends one frame per connection and waits for its outcome.
	once := func(ctx context.Context, log *attackLog, name string, frame []byte, wait time.Duration, parse func([]byte) string) {
		log.start(name)
		start := time.Now()
		log.outcome(name, sendFrame(ctx, addr, frame, wait, parse), time.Since(start))
	}
	repeat := func(name string, wait time.Duration, frame func() []byte, parse func([]byte) string) func(context.Context, *attackLog) {
		return func(ctx context.Context, log *attackLog) {
			for ctx.Err() == nil {
				once(ctx, log, name, frame(), wait, parse)
				_ = sleepCtx(ctx, 100*time.Millisecond)
			}
		}
	}
	random := func() []byte {
		b := make([]byte, 16<<10)
		_, _ = rand.Read(b)
		return b
	}
	length := func(n uint32) func() []byte {
		return func() []byte {
			b := binary.BigEndian.AppendUint32(nil, n)
			return append(b, make([]byte, 64<<10)...)
		}
	}
	fixed := func(b []byte) func() []byte { return func() []byte { return b } }
	attacks := []func(context.Context, *attackLog){
		repeat("random bytes", 2*time.Second, random, nil),
		repeat("length prefix 2 GiB", 2*time.Second, length(1<<31), nil),
		repeat("length prefix 2 GiB - 1", 2*time.Second, length(1<<31-1), nil),
		repeat("Metadata claiming 2^31-1 topics", 2*time.Second, fixed(f.metadataClaimed), nil),
		repeat("CreateTopics claiming a million", 2*time.Second, fixed(f.createTopicsClaimed), nil),
		repeat("CreateTopics of a million partitions", 5*time.Second, fixed(f.createPartitionsHuge), parseCreateTopics),
		repeat(fmt.Sprintf("Metadata naming %d topics", cfg.Topics), 5*time.Second, fixed(f.metadataMillion), parseMetadata),
		repeat(fmt.Sprintf("CreateTopics naming %d topics", cfg.Topics), 5*time.Second, fixed(f.createTopicsMillion), parseCreateTopics),
	}
	// The bombs, one loop per codec.
	byCodec := map[string][]namedFrame{}
	var codecs []string
	for _, b := range f.bombs {
		codec := strings.Fields(b.name)[1]
		if byCodec[codec] == nil {
			codecs = append(codecs, codec)
		}
		byCodec[codec] = append(byCodec[codec], b)
	}
	for _, codec := range codecs {
		bombs := byCodec[codec]
		attacks = append(attacks, func(ctx context.Context, log *attackLog) {
			for ctx.Err() == nil {
				for _, b := range bombs {
					if ctx.Err() != nil {
						return
					}
					once(ctx, log, b.name, b.frame, 10*time.Second, parseProduce)
				}
			}
		})
	}
	return append(attacks,
		func(ctx context.Context, log *attackLog) {
			holdConns(ctx, log, addr, "idle connection", cfg.IdleConns, nil)
		},
		func(ctx context.Context, log *attackLog) {
			// A frame announcing 64 MiB that stops after 1 MiB.
			head := binary.BigEndian.AppendUint32(nil, 64<<20)
			head = append(head, f.metadataClaimed[4:bodyOffset]...)
			head = append(head, make([]byte, 1<<20)...)
			holdConns(ctx, log, addr, "frame stalled after 1 of 64 MiB", cfg.StalledConns, head)
		},
	)
}

// sendFrame writes frame on a new connection and waits up to wait for an
// answer or the connection's close.
func sendFrame(ctx context.Context, addr string, frame []byte, wait time.Duration, parse func([]byte) string) string {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "dial failed"
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(frame); err != nil {
		if isTimeout(err) {
			return "no answer"
		}
		return "closed"
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		if isTimeout(err) {
			return "no answer"
		}
		return "closed"
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 256<<20 {
		return "answered (implausible size)"
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return "closed mid-answer"
	}
	if parse == nil || len(body) < 4 {
		return "answered"
	}
	return parse(body[4:]) // after the correlation id
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func codeOutcome(code int16) string {
	if code == 0 {
		return "answered"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		return "error " + e.(*kerr.Error).Message
	}
	return fmt.Sprintf("error %d", code)
}

func parseProduce(b []byte) string {
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 7
	if err := resp.ReadFrom(b); err != nil || len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 {
		return "answered (unreadable)"
	}
	return codeOutcome(resp.Topics[0].Partitions[0].ErrorCode)
}

func parseMetadata(b []byte) string {
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 4
	if err := resp.ReadFrom(b); err != nil {
		return "answered (unreadable)"
	}
	codes := map[int16]int{}
	for _, t := range resp.Topics {
		codes[t.ErrorCode]++
	}
	if len(codes) == 1 {
		for c := range codes {
			return codeOutcome(c) + fmt.Sprintf(" for %d topics", len(resp.Topics))
		}
	}
	return fmt.Sprintf("answered %d topics", len(resp.Topics))
}

func parseCreateTopics(b []byte) string {
	resp := kmsg.NewPtrCreateTopicsResponse()
	resp.Version = 4
	if err := resp.ReadFrom(b); err != nil || len(resp.Topics) == 0 {
		return "answered (unreadable)"
	}
	codes := map[int16]int{}
	for _, t := range resp.Topics {
		codes[t.ErrorCode]++
	}
	if len(codes) == 1 {
		for c := range codes {
			return codeOutcome(c) + fmt.Sprintf(" for %d topics", len(resp.Topics))
		}
	}
	return fmt.Sprintf("answered %d topics", len(resp.Topics))
}

// holdConns opens n connections, writes head on each (nothing when nil)
// and holds them until ctx ends, counting those the node closed.
func holdConns(ctx context.Context, log *attackLog, addr, name string, n int, head []byte) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for range n {
		if ctx.Err() != nil {
			break
		}
		log.start(name)
		d := net.Dialer{Timeout: 2 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			log.outcome(name, "dial failed", time.Since(start))
			continue
		}
		if head != nil {
			_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(head); err != nil {
				log.outcome(name, "closed", time.Since(start))
				c.Close()
				continue
			}
		}
		conns = append(conns, c)
	}
	<-ctx.Done()
	// Which did the node close? A read on a closed one ends at once; one
	// deadline, shortly ahead, for all of them.
	end := time.Now().Add(50 * time.Millisecond)
	for _, c := range conns {
		_ = c.SetReadDeadline(end)
	}
	for _, c := range conns {
		var b [1]byte
		_, err := c.Read(b[:])
		switch {
		case err != nil && isTimeout(err):
			log.outcome(name, "open at end", time.Since(start))
		case err != nil:
			log.outcome(name, "closed", time.Since(start))
		default:
			log.outcome(name, "answered", time.Since(start))
		}
	}
}

// endOffsets sums the end offsets of each topic's partitions; -1 for a
// topic it could not list.
func endOffsets(ctx context.Context, brokers []string, topics ...string) map[string]int64 {
	out := map[string]int64{}
	for _, t := range topics {
		out[t] = -1
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return out
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(rctx, topics...)
	if err != nil {
		return out
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			if out[o.Topic] < 0 {
				out[o.Topic] = 0
			}
			out[o.Topic] += o.Offset
		}
	})
	return out
}
