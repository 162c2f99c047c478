package chaos

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
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

	"github.com/stratalog/strata/internal/crc32c"
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
	// MaxDrop is the targeted bound of the drop of the well-behaved
	// clients' throughput (0.2: 20%); a larger drop is reported as missed.
	MaxDrop float64
	// IdleConns is the number of connections that never send.
	IdleConns int
	// StalledConns is the number of connections that stop mid-frame.
	StalledConns int
	// Topics is the topic count of the huge Metadata request.
	Topics int
	// BombBytes is what each decompression bomb decompresses to.
	BombBytes int
	// Recovery bounds the wait for the well-behaved clients to recover
	// after an attack.
	Recovery time.Duration
	// Each measures, after the combined attack, every attack alone for
	// a window, to tell which ones cost the well-behaved clients most.
	Each bool
	// LoadCommand, when set, runs the well-behaved clients as a process
	// of their own: the command and its first arguments, to which
	// "-broker ADDR -zone NAME" are added; it must run RunLoad.
	LoadCommand []string
}

func (c *HostileConfig) defaults() {
	if c.Window == 0 {
		c.Window = 8 * time.Second
	}
	if c.Recovery == 0 {
		c.Recovery = 30 * time.Second
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
	// RecoveredAfter is how long after the attack the well-behaved
	// producer was back to 80% of its baseline; -1 when it was not
	// within HostileConfig.Recovery.
	RecoveredAfter time.Duration `json:"recovered_after"`
	// DropEach is the produce throughput drop under each attack alone
	// (HostileConfig.Each), and RecoveredAfterEach the recovery after it.
	DropEach           map[string]float64       `json:"drop_each,omitempty"`
	RecoveredAfterEach map[string]time.Duration `json:"recovered_after_each,omitempty"`
	// BombTopics are the high watermarks of the topics the bombs went
	// to, after the attack: each accepted record moves one by one.
	BombTopics map[string]int64 `json:"bomb_topics"`
	Failures   []string         `json:"failures"`
	// Missed lists the performance targets the phase missed: the
	// well-behaved clients' throughput drop. They are reported, with their
	// margin, and fail nothing: a throughput measured on a shared machine
	// is a benchmark's result, not a test's (docs/reliability.md).
	Missed []string `json:"missed,omitempty"`
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
	each := make([]string, 0, len(r.DropEach))
	for n := range r.DropEach {
		each = append(each, n)
	}
	sort.Strings(each)
	fmt.Fprintf(&b, "\n  recovered to 80%% of the baseline %s after the attack", recovery(r.RecoveredAfter))
	for _, n := range each {
		fmt.Fprintf(&b, "\n  alone, %-32s drop %3.0f%%, recovered %s after", n, r.DropEach[n]*100, recovery(r.RecoveredAfterEach[n]))
	}
	for t, hwm := range r.BombTopics {
		fmt.Fprintf(&b, "\n  %s high watermark after the attack: %d", t, hwm)
	}
	for _, f := range r.Failures {
		b.WriteString("\n  FAILED: " + f)
	}
	for _, m := range r.Missed {
		b.WriteString("\n  MISSED: " + m)
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
	load, err := startLoad(ctx, cfg, target)
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
	attacks := hostileAttacks(target.KafkaAddr, frames, cfg)
	for _, a := range attacks {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			a.run(actx, log)
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

	// How long until the well-behaved clients are back to 80% of the
	// baseline: work a node goes on doing for a closed connection shows
	// here.
	rep.RecoveredAfter = waitRecovered(ctx, load, rep.ProducedBaseline, cfg.Recovery)
	if cfg.Each && target.Running() {
		rep.DropEach = map[string]float64{}
		rep.RecoveredAfterEach = map[string]time.Duration{}
		for _, a := range attacks {
			if !target.Running() {
				break
			}
			p0, _ := load.counts()
			actx, stop := context.WithTimeout(ctx, cfg.Window)
			a.run(actx, &attackLog{results: map[string]*AttackResult{}})
			<-actx.Done()
			stop()
			p1, _ := load.counts()
			if rep.ProducedBaseline > 0 {
				rep.DropEach[a.name] = max(0, 1-float64(p1-p0)/cfg.Window.Seconds()/rep.ProducedBaseline)
			}
			rep.RecoveredAfterEach[a.name] = waitRecovered(ctx, load, rep.ProducedBaseline, cfg.Recovery)
		}
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
	if rep.RecoveredAfter < 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("well-behaved produce throughput not back to 80%% of its baseline %v after the attack", cfg.Recovery))
	}
	if rep.Drop > rep.MaxDrop {
		rep.Missed = append(rep.Missed, fmt.Sprintf("well-behaved produce throughput dropped %.0f%%, more than the %.0f%% targeted", rep.Drop*100, rep.MaxDrop*100))
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
// to it for every partition. They run in this process, or in a process of
// their own (HostileConfig.LoadCommand) so that neither the attack's
// goroutines nor a race-instrumented harness slow them.
type load struct {
	produced atomic.Int64
	consumed atomic.Int64
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	cmd      *exec.Cmd
}

func startLoad(ctx context.Context, cfg HostileConfig, target *Node) (*load, error) {
	l := &load{}
	ctx, l.cancel = context.WithCancel(ctx)
	if len(cfg.LoadCommand) == 0 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			_ = runLoad(ctx, target.KafkaAddr, target.Name, &l.produced, &l.consumed)
		}()
		return l, nil
	}
	args := append(cfg.LoadCommand[1:len(cfg.LoadCommand):len(cfg.LoadCommand)], "-broker", target.KafkaAddr, "-zone", target.Name)
	l.cmd = exec.CommandContext(ctx, cfg.LoadCommand[0], args...)
	l.cmd.Stderr = os.Stderr
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start the load process: %w", err)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var p, c int64
			if _, err := fmt.Sscanf(sc.Text(), "%d %d", &p, &c); err == nil {
				l.produced.Store(p)
				l.consumed.Store(c)
			}
		}
	}()
	return l, nil
}

func (l *load) counts() (produced, consumed int64) { return l.produced.Load(), l.consumed.Load() }

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	if l.cmd != nil {
		_ = l.cmd.Wait()
	}
}

// RunLoad runs the hostile phase's well-behaved clients against broker,
// naming zone, until ctx ends, and writes to out every 100ms the records
// produced and consumed so far: "produced consumed".
func RunLoad(ctx context.Context, broker, zone string, out io.Writer) error {
	var produced, consumed atomic.Int64
	done := make(chan error, 1)
	go func() { done <- runLoad(ctx, broker, zone, &produced, &consumed) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if _, err := fmt.Fprintf(out, "%d %d\n", produced.Load(), consumed.Load()); err != nil {
				return err
			}
		}
	}
}

func runLoad(ctx context.Context, broker, zone string, produced, consumed *atomic.Int64) error {
	id := "zone=" + zone
	prod, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ClientID(id+",well-behaved-producer"),
		kgo.DefaultProduceTopic(topicHostileLoad), kgo.RecordDeliveryTimeout(10*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(2*time.Second))
	if err != nil {
		return err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ClientID(id+",well-behaved-consumer"), kgo.Rack(zone),
		kgo.ConsumeTopics(topicHostileLoad), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		return err
	}
	defer cons.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			consumed.Add(int64(fs.NumRecords()))
		}
	}()
	value := bytes.Repeat([]byte("w"), 1024)
	inflight := make(chan struct{}, 256)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case inflight <- struct{}{}:
		}
		prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err == nil {
				produced.Add(1)
			}
			<-inflight
		})
	}
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
		// The ones that took nodes down first, on the compacted topic
		// (whose key check decompresses) before the normal one.
		for _, shape := range []struct {
			name    string
			count   int32
			records []byte
		}{
			{"10 records claiming 2^28", 1 << 28, ten},
			{fmt.Sprintf("one %d MiB record", cfg.BombBytes>>20), 1, big},
			{fmt.Sprintf("%d records", n), int32(n), small},
		} {
			for _, topic := range []string{topicHostileCompacted, topicHostileBomb} {
				short := map[string]string{topicHostileCompacted: "compacted", topicHostileBomb: "normal"}[topic]
				f.bombs = append(f.bombs, namedFrame{
					name:  fmt.Sprintf("bomb %s %s %s", codec.name, short, shape.name),
					frame: produceFrame(topic, batch(codec.id, shape.count, shape.records)),
				})
			}
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
	binary.BigEndian.PutUint32(out[17:21], crc32c.Checksum(out[21:]))
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

// attack is one kind of hostile client, looping until ctx ends.
type attack struct {
	name string
	run  func(context.Context, *attackLog)
}

// hostileAttacks are the attacks.
func hostileAttacks(addr string, f *hostileFrames, cfg HostileConfig) []attack {
	// once sends one frame per connection and waits for its outcome.
	once := func(ctx context.Context, log *attackLog, name string, frame []byte, wait time.Duration, parse func([]byte) string) {
		log.start(name)
		start := time.Now()
		log.outcome(name, sendFrame(ctx, addr, frame, wait, parse), time.Since(start))
	}
	repeat := func(name string, wait time.Duration, frame func() []byte, parse func([]byte) string) attack {
		return attack{name, func(ctx context.Context, log *attackLog) {
			for ctx.Err() == nil {
				once(ctx, log, name, frame(), wait, parse)
				_ = sleepCtx(ctx, 100*time.Millisecond)
			}
		}}
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
	attacks := []attack{
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
		attacks = append(attacks, attack{"bombs " + codec, func(ctx context.Context, log *attackLog) {
			for ctx.Err() == nil {
				for _, b := range bombs {
					if ctx.Err() != nil {
						return
					}
					once(ctx, log, b.name, b.frame, 10*time.Second, parseProduce)
				}
			}
		}})
	}
	return append(attacks,
		attack{"idle connections", func(ctx context.Context, log *attackLog) {
			holdConns(ctx, log, addr, "idle connection", cfg.IdleConns, nil)
		}},
		attack{"stalled frames", func(ctx context.Context, log *attackLog) {
			// A frame announcing 64 MiB that stops after 1 MiB.
			head := binary.BigEndian.AppendUint32(nil, 64<<20)
			head = append(head, f.metadataClaimed[4:bodyOffset]...)
			head = append(head, make([]byte, 1<<20)...)
			holdConns(ctx, log, addr, "frame stalled after 1 of 64 MiB", cfg.StalledConns, head)
		}},
	)
}

// hostileSource is the address the attacks come from when the node is on
// the loopback network: one of their own, as an attacker's would be, not
// the well-behaved clients' 127.0.0.1, so that limits per client address
// (-kafka.max-connections-per-ip, -kafka.connection-creation-rate-per-ip)
// tell them apart.
var hostileSource = net.IPv4(127, 0, 0, 66)

// hostileDialer dials addr from hostileSource when addr is a loopback
// address.
func hostileDialer(addr string) *net.Dialer {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
			d.LocalAddr = &net.TCPAddr{IP: hostileSource}
		}
	}
	return d
}

// sendFrame writes frame on a new connection and waits up to wait for an
// answer or the connection's close.
func sendFrame(ctx context.Context, addr string, frame []byte, wait time.Duration, parse func([]byte) string) string {
	d := hostileDialer(addr)
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
		d := hostileDialer(addr)
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

func recovery(d time.Duration) string {
	if d < 0 {
		return "not"
	}
	return d.Round(100 * time.Millisecond).String()
}

// waitRecovered measures the well-behaved producer in windows of 500ms
// until one reaches 80% of baseline, and returns how long that took; -1
// after max.
func waitRecovered(ctx context.Context, l *load, baseline float64, max time.Duration) time.Duration {
	start := time.Now()
	const step = 500 * time.Millisecond
	for time.Since(start) < max {
		p0, _ := l.counts()
		if sleepCtx(ctx, step) != nil {
			return -1
		}
		p1, _ := l.counts()
		if float64(p1-p0)/step.Seconds() >= 0.8*baseline {
			return time.Since(start) - step
		}
	}
	return -1
}
