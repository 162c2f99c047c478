package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// This file checks consumer groups with real clients: kafka-python (the
// article's examples), franz-go and confluent-kafka (librdkafka).

// fastGroups makes strata start a new group's first rebalance at once
// instead of waiting for more members.
var fastGroups = []string{"-groups.initial-rebalance-delay=0s"}

// line is one line a client process printed, and when it was read.
type line struct {
	text string
	at   time.Time
}

// clientProc is a client program run as a subprocess whose standard output
// is read line by line while it runs.
type clientProc struct {
	t    testing.TB
	name string
	p    *proc.Process
	errb bytes.Buffer  // standard error, for failure messages
	done chan struct{} // closed once the process has exited and its output is read

	mu    sync.Mutex
	lines []line
}

// startProc starts a client program; it is killed when the test ends.
func startProc(t testing.TB, env []string, name string, args ...string) *clientProc {
	t.Helper()
	c := &clientProc{t: t, name: filepath.Base(args[0]), done: make(chan struct{})}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = &c.errb
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	c.p, err = proc.Start(c.name, cmd, filepath.Join(t.TempDir(), c.name+".log"))
	w.Close() // the child holds its own end
	if err != nil {
		out.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		defer out.Close()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, line{text: sc.Text(), at: time.Now()})
			c.mu.Unlock()
		}
		<-c.p.Done()
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", c.name, c.stderr())
		}
	})
	return c
}

// output returns the lines printed so far.
func (p *clientProc) output() []line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

func (p *clientProc) stderr() string {
	select {
	case <-p.done:
		return p.errb.String()
	default:
		return "(still running)"
	}
}

func (p *clientProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill kills the process, which gets no chance to leave its group.
func (p *clientProc) kill() {
	if p.p.Running() {
		p.p.Kill()
	}
	<-p.done
}

// stop sends SIGTERM and waits for the process to exit.
func (p *clientProc) stop(timeout time.Duration) {
	p.t.Helper()
	_ = p.p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if err := p.p.Err(); err != nil {
			p.t.Fatalf("%s exited with %v:\n%s", p.name, err, p.stderr())
		}
	case <-time.After(timeout):
		p.kill()
		p.t.Fatalf("%s did not stop within %v of SIGTERM", p.name, timeout)
	}
}

// wait waits for the process to exit by itself, successfully.
func (p *clientProc) wait(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
		if err := p.p.Err(); err != nil {
			p.t.Fatalf("%s exited with %v:\n%s", p.name, err, p.stderr())
		}
	case <-time.After(timeout):
		p.kill()
		p.t.Fatalf("%s still running after %v", p.name, timeout)
	}
}

// describeGroup describes one group, nil on error.
func describeGroup(ctx context.Context, adm *kadm.Client, group string) *kadm.DescribedGroup {
	d, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil
	}
	g, ok := d[group]
	if !ok || g.Err != nil {
		return nil
	}
	return &g
}

// settled reports whether group is Stable with exactly the given number of
// members, which between them own each of the topic's partitions exactly
// once. It returns the owner of each partition by client id.
func settled(g *kadm.DescribedGroup, members int, topic string, partitions int32) (map[int32]string, error) {
	if g == nil || g.State != "Stable" || len(g.Members) != members {
		return nil, fmt.Errorf("group not Stable with %d members: %+v", members, g)
	}
	owner := map[int32]string{}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			return nil, fmt.Errorf("member %s: no consumer assignment", m.MemberID)
		}
		for _, at := range ca.Topics {
			if at.Topic != topic {
				return nil, fmt.Errorf("member %s: assigned topic %q", m.MemberID, at.Topic)
			}
			for _, p := range at.Partitions {
				if prev, dup := owner[p]; dup {
					return nil, fmt.Errorf("partition %d owned by %s and %s", p, prev, m.ClientID)
				}
				owner[p] = m.ClientID
			}
		}
	}
	if int32(len(owner)) != partitions {
		return nil, fmt.Errorf("%d of %d partitions assigned: %v", len(owner), partitions, owner)
	}
	return owner, nil
}

// owned returns the partitions a group's member (by client id) is
// assigned.
func owned(g *kadm.DescribedGroup, clientID string) []int32 {
	if g == nil {
		return nil
	}
	var ps []int32
	for _, m := range g.Members {
		if ca, ok := m.Assigned.AsConsumer(); ok && m.ClientID == clientID {
			for _, at := range ca.Topics {
				ps = append(ps, at.Partitions...)
			}
		}
	}
	return ps
}

// committed returns a group's committed offsets of topic by partition.
func committed(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]kadm.OffsetResponse, error) {
	offs, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]kadm.OffsetResponse{}
	for p, o := range offs[topic] {
		out[p] = o
	}
	return out, nil
}

// articleBroker makes sure 127.0.0.1:9092 and [::1]:9092 are free, for the
// article's examples that hard-code localhost:9092.
func articleBroker(t *testing.T) string {
	t.Helper()
	const addr = "127.0.0.1:9092"
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the article examples need port 9092, which is taken (%v): stop whatever listens there (a local Kafka or strata dev?)", err)
	}
	l.Close()
	if c, err := net.DialTimeout("tcp", "[::1]:9092", time.Second); err == nil {
		c.Close()
		t.Fatal("something listens on [::1]:9092; the article examples would reach it instead of strata")
	}
	return addr
}

// articleLine is what the article's consumers print for a record.
func articleLine(topic string, partition int32, offset int64, key, value string) string {
	k := "None"
	if key != "" {
		k = fmt.Sprintf("b'%s'", key)
	}
	return fmt.Sprintf("%s:%d:%d: key=%s value=b'%s'", topic, partition, offset, k, value)
}

// TestKafkaPythonGroupConsumerExamples runs the article's two kafka-python
// group consumers against strata dev on localhost:9092.
func TestKafkaPythonGroupConsumerExamples(t *testing.T) {
	python := pythonProg.require(t)
	s := startStrata(t, modeDev, strataOpts{KafkaAddr: articleBroker(t)})
	const topic = "my-topic"
	createTopic(t, s.KafkaAddr, topic, 3)
	producer := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.GzipCompression()))
	adm := kadm.NewClient(newClient(t, s.KafkaAddr))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produce := func(p int32, key, value string) int64 {
		t.Helper()
		r := &kgo.Record{Partition: p, Value: []byte(value)}
		if key != "" {
			r.Key = []byte(key)
		}
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		return r.Offset
	}

	t.Run("latest-auto-commit", func(t *testing.T) {
		// Records from before the consumer joins are not printed: it
		// starts at the end of the log.
		for p := range int32(3) {
			produce(p, "", fmt.Sprintf("before %d", p))
		}
		proc := startProc(t, []string{"PYTHONUNBUFFERED=1"}, python, filepath.Join("testdata", "consumer.py"))
		// Joined: the group is Stable with the consumer owning every
		// partition, and its auto commit has stored its positions (the
		// end of the log), so it fetches from there.
		waitFor(t, 60*time.Second, "the consumer to join my-group and commit its positions", func() bool {
			if proc.exited() {
				t.Fatalf("consumer.py exited:\n%s", proc.stderr())
			}
			if _, err := settled(describeGroup(ctx, adm, "my-group"), 1, topic, 3); err != nil {
				return false
			}
			offs, err := committed(ctx, adm, "my-group", topic)
			return err == nil && len(offs) == 3 && offs[0].At == 1 && offs[1].At == 1 && offs[2].At == 1
		})

		var want []string
		var slowest time.Duration
		for i := range 9 {
			p := int32(i % 3)
			key, value := fmt.Sprintf("key-%d", i), fmt.Sprintf("after %d", i)
			if i%2 == 1 {
				key = ""
			}
			sent := time.Now()
			off := produce(p, key, value)
			w := articleLine(topic, p, off, key, value)
			want = append(want, w)
			waitFor(t, 5*time.Second, "consumer.py to print "+w, func() bool {
				return slices.ContainsFunc(proc.output(), func(l line) bool { return l.text == w })
			})
			i := slices.IndexFunc(proc.output(), func(l line) bool { return l.text == w })
			lat := proc.output()[i].at.Sub(sent)
			slowest = max(slowest, lat)
			if lat > 1500*time.Millisecond {
				t.Errorf("%q printed %v after it was produced, want about a second at most", w, lat)
			}
		}
		t.Logf("slowest record: printed %v after it was produced", slowest)
		var got []string
		for _, l := range proc.output() {
			got = append(got, l.text)
		}
		if !slices.Equal(got, want) {
			t.Errorf("consumer.py printed\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		// Auto commit stores the positions after the printed records.
		waitFor(t, 15*time.Second, "the auto commit of the consumed records", func() bool {
			offs, err := committed(ctx, adm, "my-group", topic)
			return err == nil && offs[0].At == 4 && offs[1].At == 4 && offs[2].At == 4
		})
		proc.kill()
	})

	t.Run("earliest-manual-commit", func(t *testing.T) {
		// The topic holds 12 records. The first run reads them all from
		// the earliest offset and commits them with a metadata string.
		script := filepath.Join("testdata", "consumer_manual.py")
		const group = "my-manual-group"
		all := consumeAll(t, s.KafkaAddr, topic)
		var first []string
		for p := range int32(3) {
			for _, r := range all[p] {
				first = append(first, articleLine(topic, p, r.Offset, string(r.Key), string(r.Value)))
			}
		}
		lines := func(out string) []string {
			var ls []string
			for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
				if l != "" {
					ls = append(ls, l)
				}
			}
			return byTopicPartition(ls)
		}
		out := run(t, 2*time.Minute, "", python, script, group)
		if got := lines(out); !slices.Equal(got, first) {
			t.Fatalf("first run printed\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(first, "\n  "))
		}
		offs, err := committed(ctx, adm, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(3) {
			if o := offs[p]; o.At != 4 || o.Metadata != "read by "+group {
				t.Errorf("partition %d: committed %d %q, want 4 %q", p, o.At, o.Metadata, "read by "+group)
			}
		}

		// Restarted in the same group, it resumes after the committed
		// offsets: only the new records.
		var second []string
		for p := range int32(3) {
			for j := range 2 {
				v := fmt.Sprintf("second run %d-%d", p, j)
				second = append(second, articleLine(topic, p, produce(p, "", v), "", v))
			}
		}
		out = run(t, 2*time.Minute, "", python, script, group)
		if got := lines(out); !slices.Equal(got, byTopicPartition(second)) {
			t.Fatalf("restarted consumer printed\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(second, "\n  "))
		}

		// seek_to_beginning() reads everything again.
		out = run(t, 2*time.Minute, "", python, script, group, "--from-beginning")
		everything := byTopicPartition(append(slices.Clone(first), second...))
		if got := lines(out); !slices.Equal(got, everything) {
			t.Fatalf("after seek_to_beginning() printed\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(everything, "\n  "))
		}
	})
}

// byTopicPartition orders "topic:partition:offset: ..." lines by partition,
// keeping the order within each partition.
func byTopicPartition(lines []string) []string {
	out := slices.Clone(lines)
	part := func(l string) string {
		f := strings.SplitN(l, ":", 3)
		if len(f) < 2 {
			return l
		}
		return f[1]
	}
	slices.SortStableFunc(out, func(a, b string) int { return strings.Compare(part(a), part(b)) })
	return out
}

// killSwitch is a dialer whose connections can all be cut at once, after
// which it dials nothing: a client that dies without a word to the broker.
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// groupMember is a franz-go group consumer recording what it consumes.
type groupMember struct {
	name   string
	cl     *kgo.Client
	ks     *killSwitch
	cancel context.CancelFunc
	done   chan struct{}
	next   map[int32]int64 // the offset after the last record read, by partition
}

// TestFranzConsumerGroupChurn runs franz-go group consumers on a
// 12-partition topic while a producer writes: three members start, one
// leaves, another joins, one dies without leaving (its session times out).
// Every produced record is consumed at least once, committed offsets never
// go back, and the settled group owns each partition exactly once; with
// the cooperative-sticky balancer (franz-go's default) and with range.
func TestFranzConsumerGroupChurn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testGroupChurn(t, tc.balancer)
		})
	}
}

func testGroupChurn(t *testing.T, balancer kgo.GroupBalancer) {
	s := startStrata(t, modeDev, strataOpts{Args: fastGroups})
	const topic, group, partitions = "churn", "churn-group", 12
	createTopic(t, s.KafkaAddr, topic, partitions)
	adm := kadm.NewClient(newClient(t, s.KafkaAddr))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	type pos struct {
		p int32
		o int64
	}
	var mu sync.Mutex
	consumed := map[pos]string{} // first value read at each position
	reads := 0                   // records read, counting re-reads
	var mismatch []string

	// The producer writes until told to stop.
	acked := map[pos]string{}
	var ackMu sync.Mutex
	producer := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	stopProducing := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				return
			case <-time.After(3 * time.Millisecond): // a steady rate, not a synchronisation
			}
			r := &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
			producer.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
					return
				}
				ackMu.Lock()
				acked[pos{r.Partition, r.Offset}] = string(r.Value)
				ackMu.Unlock()
			})
		}
	}()

	start := func(name string, commitEvery time.Duration) *groupMember {
		m := &groupMember{name: name, ks: &killSwitch{}, done: make(chan struct{}), next: map[int32]int64{}}
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr), kgo.ClientID(name), kgo.Dialer(m.ks.dial),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(balancer),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.RebalanceTimeout(20*time.Second), kgo.AutoCommitInterval(commitEvery),
			kgo.FetchMaxWait(500*time.Millisecond), kgo.RetryTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		m.cl = cl
		pctx, pcancel := context.WithCancel(ctx)
		m.cancel = pcancel
		go func() {
			defer close(m.done)
			for pctx.Err() == nil {
				fs := cl.PollFetches(pctx)
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					defer mu.Unlock()
					k := pos{r.Partition, r.Offset}
					if v, ok := consumed[k]; ok && v != string(r.Value) {
						mismatch = append(mismatch, fmt.Sprintf("%d/%d: %q then %q", k.p, k.o, v, r.Value))
					}
					consumed[k] = string(r.Value)
					reads++
					m.next[r.Partition] = r.Offset + 1
				})
			}
		}()
		return m
	}
	stopPolling := func(m *groupMember) {
		m.cancel()
		<-m.done
	}

	// Committed offsets are polled all along: none may go back.
	highest := map[int32]int64{}
	var regressions []string
	stopWatching := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatching:
				return
			case <-time.After(50 * time.Millisecond):
			}
			offs, err := committed(ctx, adm, group, topic)
			if err != nil {
				continue
			}
			mu.Lock()
			for p, o := range offs {
				if o.At < highest[p] {
					regressions = append(regressions, fmt.Sprintf("partition %d: %d after %d", p, o.At, highest[p]))
				}
				highest[p] = max(highest[p], o.At)
			}
			mu.Unlock()
		}
	}()

	waitSettled := func(what string, members int) map[int32]string {
		t.Helper()
		var owner map[int32]string
		var last error
		waitFor(t, 45*time.Second, what, func() bool {
			owner, last = settled(describeGroup(ctx, adm, group), members, topic, partitions)
			return last == nil
		})
		return owner
	}
	const commitEvery = 300 * time.Millisecond
	a, b, c := start("member-a", commitEvery), start("member-b", time.Hour), start("member-c", commitEvery)
	defer func() {
		stopPolling(c)
		c.cl.Close()
	}()
	t.Logf("three members: %v", waitSettled("three members to share the partitions", 3))

	stopPolling(a)
	a.cl.Close() // commits and leaves the group
	t.Logf("member-a left: %v", waitSettled("two members after member-a left", 2))

	d := start("member-d", commitEvery)
	defer func() {
		stopPolling(d)
		d.cl.Close()
	}()
	t.Logf("member-d joined: %v", waitSettled("three members after member-d joined", 3))

	// member-b commits only when partitions are revoked: it dies with
	// records read and not committed, which the others must read again.
	var ahead int64
	waitFor(t, 30*time.Second, "member-b to read 20 records past its last commit", func() bool {
		offs, err := committed(ctx, adm, group, topic)
		if err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		ahead = 0
		for _, p := range owned(describeGroup(ctx, adm, group), "member-b") {
			ahead += max(0, b.next[p]-offs[p].At)
		}
		return ahead >= 20
	})
	// member-b dies: its connections drop and it never sends LeaveGroup.
	killed := time.Now()
	b.ks.kill()
	stopPolling(b)
	go b.cl.Close() // its LeaveGroup cannot reach the broker
	offs, err := committed(ctx, adm, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ahead = 0
	for p, next := range b.next {
		ahead += max(0, next-offs[p].At)
	}
	rereadBefore := reads - len(consumed)
	mu.Unlock()
	t.Logf("member-b died %d records past its last commit", ahead)
	owner := waitSettled("member-b's session to time out", 2)
	t.Logf("member-b removed after %v: %v", time.Since(killed).Round(time.Millisecond), owner)
	for p, o := range owner {
		if o == "member-b" {
			t.Errorf("partition %d still owned by the dead member", p)
		}
	}

	ackMu.Lock()
	settledAt := len(acked)
	ackMu.Unlock()
	waitFor(t, 30*time.Second, "300 more records written to the settled group", func() bool {
		ackMu.Lock()
		defer ackMu.Unlock()
		return len(acked) >= settledAt+300
	})
	close(stopProducing)
	<-produced
	if err := producer.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	ends := endOffsets(t, s.KafkaAddr, topic)

	// Every acked record is consumed, and the commits reach the end.
	waitFor(t, 30*time.Second, "every record to be consumed and committed", func() bool {
		offs, err := committed(ctx, adm, group, topic)
		if err != nil {
			return false
		}
		for p, end := range ends {
			if offs[p].At != end {
				return false
			}
		}
		return true
	})
	close(stopWatching)
	<-watched

	mu.Lock()
	defer mu.Unlock()
	ackMu.Lock()
	defer ackMu.Unlock()
	missing := 0
	for k, v := range acked {
		got, ok := consumed[k]
		if !ok {
			if missing++; missing <= 10 {
				t.Errorf("record %q at %d/%d never consumed", v, k.p, k.o)
			}
			continue
		}
		if got != v {
			t.Errorf("record at %d/%d: consumed %q, produced %q", k.p, k.o, got, v)
		}
	}
	var total int64
	for _, end := range ends {
		total += end
	}
	if int64(len(acked)) != total {
		t.Errorf("%d records acked, the partitions hold %d", len(acked), total)
	}
	if missing > 0 {
		t.Errorf("%d of %d records never consumed", missing, len(acked))
	}
	for _, m := range mismatch {
		t.Errorf("one position read with two values: %s", m)
	}
	for _, r := range regressions {
		t.Errorf("committed offset went back: %s", r)
	}
	reread := reads - len(consumed) - rereadBefore
	t.Logf("%d records produced and consumed; %d read again after member-b died", len(acked), reread)
	if int64(reread) < ahead {
		t.Errorf("%d records read again after member-b died, want at least the %d it read and did not commit", reread, ahead)
	}

	final, err := settled(describeGroup(ctx, adm, group), 2, topic, partitions)
	if err != nil {
		t.Errorf("settled group: %v", err)
	}
	for p, o := range final {
		if o != "member-c" && o != "member-d" {
			t.Errorf("partition %d owned by %s, want member-c or member-d", p, o)
		}
	}
}

// requireConfluent returns a python that imports confluent_kafka.
func requireConfluent(t testing.TB) string {
	t.Helper()
	python := pythonProg.require(t)
	out, err := exec.Command(python, "-c", "import confluent_kafka").CombinedOutput()
	if err != nil {
		testenv.Missing(t, "confluent-kafka is not available (%v: %s); install it (apt-get install python3-confluent-kafka)", err, bytes.TrimSpace(out))
	}
	return python
}

// TestConfluentConsumerGroup runs two confluent-kafka (librdkafka) group
// members: they split the partitions, and, restarted, resume after the
// offsets they committed.
func TestConfluentConsumerGroup(t *testing.T) {
	python := requireConfluent(t)
	s := startStrata(t, modeDev, strataOpts{Args: fastGroups, InProcess: true})
	const topic, group, partitions, perPartition = "cf-topic", "cf-group", 4, 5
	createTopic(t, s.KafkaAddr, topic, partitions)
	adm := kadm.NewClient(newClient(t, s.KafkaAddr))
	producer := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.GzipCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := filepath.Join("testdata", "confluent_group.py")

	round := func(n int) {
		t.Helper()
		members := []*clientProc{
			startProc(t, nil, python, script, s.KafkaAddr, topic, group, "cf-1"),
			startProc(t, nil, python, script, s.KafkaAddr, topic, group, "cf-2"),
		}
		var owner map[int32]string
		waitFor(t, 60*time.Second, "two confluent-kafka members to split the partitions", func() bool {
			for _, m := range members {
				if m.exited() {
					t.Fatalf("member exited:\n%s", m.stderr())
				}
			}
			var err error
			owner, err = settled(describeGroup(ctx, adm, group), 2, topic, partitions)
			return err == nil
		})
		owners := map[string]bool{}
		for _, o := range owner {
			owners[o] = true
		}
		if len(owners) != 2 {
			t.Errorf("round %d: one member owns every partition: %v", n, owner)
		}

		var want []string
		for p := range int32(partitions) {
			for j := range perPartition {
				r := &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "round%d-%d-%d", n, p, j)}
				if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				want = append(want, fmt.Sprintf("%d %d %s", p, r.Offset, r.Value))
			}
		}
		records := func() (all []string, byMember []map[int32]bool) {
			for _, m := range members {
				parts := map[int32]bool{}
				for _, l := range m.output() {
					if rest, ok := strings.CutPrefix(l.text, "record "); ok {
						all = append(all, rest)
						p, _, _ := strings.Cut(rest, " ")
						parts[int32(atoi(t, p))] = true
					}
				}
				byMember = append(byMember, parts)
			}
			return all, byMember
		}
		waitFor(t, 30*time.Second, "the members to consume the round's records", func() bool {
			all, _ := records()
			return len(all) >= len(want)
		})
		for _, m := range members {
			m.stop(30 * time.Second)
		}
		all, byMember := records()
		slices.Sort(all)
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Errorf("round %d: consumed\n  %s\nwant exactly once each\n  %s", n, strings.Join(all, "\n  "), strings.Join(want, "\n  "))
		}
		for p := range byMember[0] {
			if byMember[1][p] {
				t.Errorf("round %d: both members consumed partition %d", n, p)
			}
		}
		if len(byMember[0]) == 0 || len(byMember[1]) == 0 {
			t.Errorf("round %d: a member consumed nothing: %v", n, byMember)
		}
		offs, err := committed(ctx, adm, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(partitions) {
			if got := offs[p].At; got != int64(n*perPartition) {
				t.Errorf("round %d: partition %d committed at %d, want %d", n, p, got, n*perPartition)
			}
		}
	}
	round(1)
	// Restarted, the members read only the records after their commits.
	round(2)
}

// TestConsumerGroupResumeAfterRestart restarts strata serve (same
// PostgreSQL and bucket) between a group's commits: each new consumer
// starts exactly at the offsets committed before the restart.
func TestConsumerGroupResumeAfterRestart(t *testing.T) {
	s := startStrata(t, modeServe, strataOpts{Args: fastGroups})
	const topic, group, partitions, total = "resume", "resume-group", 3, 90
	createTopic(t, s.KafkaAddr, topic, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	producer := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// Three rounds of 10 records per partition: batches of 10, so that the
	// consumers stop and resume inside batches and across partitions.
	for round := range 3 {
		var recs []*kgo.Record
		for i := range total / 3 {
			recs = append(recs, &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "%d-%d", round, i)})
		}
		if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	seen := map[int32][]int64{} // offsets consumed, in order, per partition
	var commits []map[int32]int64
	// consume reads at least n more records in the group, commits what it
	// read, and leaves. It returns the first offset read per partition.
	consume := func(n int) map[int32]int64 {
		t.Helper()
		cl := newClient(t, s.KafkaAddr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.FetchMaxWait(500*time.Millisecond), kgo.FetchMaxPartitionBytes(200))
		first := map[int32]int64{}
		read := 0
		for read < n {
			fs := cl.PollRecords(ctx, n-read)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d records before the deadline", read, n)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if _, ok := first[r.Partition]; !ok {
					first[r.Partition] = r.Offset
				}
				seen[r.Partition] = append(seen[r.Partition], r.Offset)
				read++
			})
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		c := map[int32]int64{}
		for p, os := range seen {
			c[p] = os[len(os)-1] + 1
		}
		commits = append(commits, c)
		cl.Close()
		return first
	}
	checkCommitted := func(when string) {
		t.Helper()
		want := commits[len(commits)-1]
		offs, err := committed(ctx, kadm.NewClient(newClient(t, s.KafkaAddr)), group, topic)
		if err != nil {
			t.Fatalf("%s: fetch offsets: %v", when, err)
		}
		for p, o := range want {
			if offs[p].At != o {
				t.Errorf("%s: partition %d committed at %d, want %d", when, p, offs[p].At, o)
			}
		}
	}

	consume(25)
	checkCommitted("before the first restart")
	for restart := 1; restart <= 2; restart++ {
		s.Restart()
		checkCommitted(fmt.Sprintf("after restart %d", restart))
		before := commits[len(commits)-1]
		n := 30
		if restart == 2 {
			n = total - countSeen(seen) // the rest
		}
		first := consume(n)
		for p, o := range first {
			want, ok := before[p]
			if !ok {
				want = 0
			}
			if o != want {
				t.Errorf("after restart %d: partition %d resumed at %d, want the committed %d", restart, p, o, want)
			}
		}
	}
	for p := range int32(partitions) {
		want := make([]int64, total/partitions)
		for i := range want {
			want[i] = int64(i)
		}
		if !slices.Equal(seen[p], want) {
			t.Errorf("partition %d: consumed offsets %v, want each of 0..%d once, in order", p, seen[p], len(want)-1)
		}
	}
	checkCommitted("at the end")
}

func countSeen(seen map[int32][]int64) int {
	n := 0
	for _, os := range seen {
		n += len(os)
	}
	return n
}
