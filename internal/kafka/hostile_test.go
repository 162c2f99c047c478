package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hostileClient attacks a server from addresses of its own, in a loop,
// with what an attacker sends: random bytes, a 2 GiB length prefix,
// requests cut short, connections that never send (beyond the per-address
// limit), Metadata and CreateTopics requests naming a million topics, and
// Metadata requests naming 20,000 unknown ones. Each attack checks that it
// got an error or a closed connection, never a hang.
type hostileClient struct {
	t      testing.TB
	addr   string
	local  []string // client addresses, one per attack kind
	flood  int      // connections opened by each flood
	rounds atomic.Int64
	errs   chan error

	// Frames built before the attacks, so that building them does not
	// count as the attack's cost.
	millionMeta, millionCreate, unknown, good []byte
}

// newHostileClient prepares an attack on addr.
func newHostileClient(t testing.TB, addr string, flood int, local ...string) *hostileClient {
	h := &hostileClient{t: t, addr: addr, local: local, flood: flood, errs: make(chan error, 16)}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Topics = make([]kmsg.MetadataRequestTopic, 1_000_000)
	for i := range meta.Topics {
		meta.Topics[i] = kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(fmt.Sprintf("m%07d", i))}
	}
	meta.SetVersion(12)
	h.millionMeta = encodeRequest(meta, 1)
	create := kmsg.NewPtrCreateTopicsRequest()
	create.Topics = make([]kmsg.CreateTopicsRequestTopic, 1_000_000)
	for i := range create.Topics {
		create.Topics[i] = kmsg.CreateTopicsRequestTopic{Topic: fmt.Sprintf("m%07d", i), NumPartitions: 1, ReplicationFactor: -1}
	}
	create.SetVersion(7)
	h.millionCreate = encodeRequest(create, 1)
	unknown := kmsg.NewPtrMetadataRequest()
	for i := range 20_000 {
		unknown.Topics = append(unknown.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(fmt.Sprintf("nope-%05d", i))})
	}
	unknown.SetVersion(12)
	h.unknown = encodeRequest(unknown, 2)
	h.good = encodeRequest(metadataRequest(false, "legit"), 3)
	runtime.GC()
	return h
}

// dial connects from local.
func (h *hostileClient) dial(local string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return d.Dial("tcp", h.addr)
}

// expectClose waits until the server closes nc, writing nothing more.
func expectClose(nc net.Conn, within time.Duration) error {
	nc.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection still open after %v", within)
	}
	return nil
}

// hostileAttacks names the hostile client's attacks, in the order run
// numbers them.
var hostileAttacks = []string{"random bytes", "2 GiB length", "truncated request", "connection flood", "a million topics", "20,000 unknown topics"}

// run attacks until ctx ends, with every attack, or with attack number
// only when it is not negative.
func (h *hostileClient) run(ctx context.Context, only int) {
	millionMeta, millionCreate, unknownFrame, good := h.millionMeta, h.millionCreate, h.unknown, h.good
	attacks := []struct {
		name string
		fn   func(local string, rng *rand.Rand) error
	}{
		{hostileAttacks[0], func(local string, rng *rand.Rand) error {
			nc, err := h.dial(local)
			if err != nil {
				return err
			}
			defer nc.Close()
			b := make([]byte, 1+rng.IntN(8<<10))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			nc.Write(b)
			return expectClose(nc, 10*time.Second)
		}},
		{hostileAttacks[1], func(local string, rng *rand.Rand) error {
			nc, err := h.dial(local)
			if err != nil {
				return err
			}
			defer nc.Close()
			nc.Write(binary.BigEndian.AppendUint32(nil, 2<<30))
			return expectClose(nc, 10*time.Second)
		}},
		{hostileAttacks[2], func(local string, rng *rand.Rand) error {
			nc, err := h.dial(local)
			if err != nil {
				return err
			}
			defer nc.Close()
			nc.Write(good[:4+rng.IntN(len(good)-4)])
			return expectClose(nc, 10*time.Second)
		}},
		{hostileAttacks[3], func(local string, rng *rand.Rand) error {
			var conns []net.Conn
			defer func() {
				for _, nc := range conns {
					nc.Close()
				}
			}()
			refused := 0
			for range h.flood {
				nc, err := h.dial(local)
				if err != nil {
					return err
				}
				conns = append(conns, nc)
			}
			// Those beyond the count are closed at once, those beyond
			// the address's connection creation rate once its rate is
			// back at the bound.
			for _, nc := range conns {
				nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				if _, err := nc.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					refused++
				}
			}
			if refused == 0 {
				if err := expectClose(conns[len(conns)-1], 10*time.Second); err != nil {
					return errors.New("no connection of the flood was refused")
				}
			}
			return nil
		}},
		{hostileAttacks[4], func(local string, rng *rand.Rand) error {
			for _, frame := range [][]byte{millionMeta, millionCreate} {
				nc, err := h.dial(local)
				if err != nil {
					return err
				}
				go func() { nc.Write(frame) }() // refused before it is all sent
				err = expectClose(nc, 10*time.Second)
				nc.Close()
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{hostileAttacks[5], func(local string, rng *rand.Rand) error {
			nc, err := h.dial(local)
			if err != nil {
				return err
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			c := &rawConn{t: h.t, nc: nc, br: bufio.NewReader(nc)}
			if _, err := nc.Write(unknownFrame); err != nil {
				return err
			}
			_, body, err := c.readFrame()
			if err != nil {
				return fmt.Errorf("no answer: %w", err)
			}
			resp, err := decodeResponse(kmsg.Metadata.Int16(), 12, body)
			if err != nil {
				return err
			}
			for _, mt := range resp.(*kmsg.MetadataResponse).Topics {
				if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code && mt.ErrorCode != kerr.LeaderNotAvailable.Code {
					return fmt.Errorf("unknown topic answered %d", mt.ErrorCode)
				}
			}
			return nil
		}},
	}
	var wg sync.WaitGroup
	for i, a := range attacks {
		if only >= 0 && i != only {
			continue
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(7, uint64(i)))
			for ctx.Err() == nil {
				if err := a.fn(h.local[i], rng); err != nil && ctx.Err() == nil {
					select {
					case h.errs <- fmt.Errorf("%s: %w", a.name, err):
					default:
					}
				}
				h.rounds.Add(1)
			}
		})
	}
	wg.Wait()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// wellBehaved produces to and consumes from topic for d with franz-go
// clients, and returns the records consumed per second. Every record
// acked must be consumed, exactly once.
func wellBehaved(t *testing.T, s *testServer, topic string, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		value := make([]byte, 200)
		for i := 0; ; i++ {
			select {
			case <-stop:
				prod.Flush(ctx)
				return
			default:
			}
			prod.Produce(ctx, &kgo.Record{Value: append([]byte(fmt.Sprintf("%09d-", i)), value...)}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				acked.Add(1)
			})
		}
	}()
	seen := map[string]bool{}
	poll := func(pctx context.Context) {
		fs := cons.PollFetches(pctx)
		for _, fe := range fs.Errors() {
			if pctx.Err() == nil {
				t.Fatalf("consume: %v", fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			k := string(r.Value[:9])
			if seen[k] {
				t.Fatalf("record %s consumed twice", k)
			}
			seen[k] = true
		})
	}
	start := time.Now()
	for time.Since(start) < d {
		poll(ctx)
	}
	elapsed, consumed := time.Since(start), len(seen)
	close(stop)
	<-produced
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d records failed: %v", n, firstErr.Load())
	}
	// Every record acked is consumed.
	for int64(len(seen)) < acked.Load() {
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d acked records", len(seen), acked.Load())
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		poll(pctx)
		pcancel()
	}
	return float64(consumed) / elapsed.Seconds()
}

// Environment of TestHostileHelperProcess.
const (
	envHostileAddr  = "STRATA_TEST_HOSTILE_ADDR"
	envHostileFlood = "STRATA_TEST_HOSTILE_FLOOD"
)

// hostileLocals are the client addresses of the hostile client's attacks.
var hostileLocals = []string{"127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64", "127.0.0.65", "127.0.0.66"}

// TestHostileHelperProcess is not a test: TestHostileClientWhileOthersWork
// runs the test binary again with it as the hostile client, a process of
// its own at the lowest scheduling priority, so that what the attack costs
// the node is measured rather than what the attacker spends. It attacks
// the server at envHostileAddr on a "go N K" line of its standard input,
// with attack number N (-1: all), for K rounds or, when K is 0, until a
// "stop" line, and then writes the rounds it made and its first error.
func TestHostileHelperProcess(t *testing.T) {
	addr := os.Getenv(envHostileAddr)
	if addr == "" {
		t.Skip("helper process of TestHostileClientWhileOthersWork")
	}
	flood, _ := strconv.Atoi(os.Getenv(envHostileFlood))
	h := newHostileClient(t, addr, flood, hostileLocals...)
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var only, count int
		if _, err := fmt.Sscanf(in.Text(), "go %d %d", &only, &count); err != nil {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.run(ctx, only)
		}()
		if count > 0 {
			for h.rounds.Load() < int64(count) {
				time.Sleep(time.Millisecond) // polls the count
			}
		} else {
			for in.Scan() && in.Text() != "stop" {
			}
		}
		cancel()
		<-done
		msg := "none"
		select {
		case err := <-h.errs:
			msg = strconv.Quote(err.Error())
		default:
		}
		fmt.Printf("rounds %d error %s\n", h.rounds.Swap(0), msg)
	}
}

// hostileProcess is a running TestHostileHelperProcess.
type hostileProcess struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startHostileProcess(t *testing.T, addr string, flood int) *hostileProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envHostileAddr+"="+addr, envHostileFlood+"="+strconv.Itoa(flood))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The lowest priority: the attacker's own work yields to the node.
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, 19); err != nil {
		t.Logf("hostile client priority: %v", err)
	}
	p := &hostileProcess{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	p.expect(t, "ready")
	return p
}

// expect reads output lines until one starts with prefix, and returns it.
func (p *hostileProcess) expect(t *testing.T, prefix string) string {
	t.Helper()
	for p.out.Scan() {
		if line := p.out.Text(); strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("hostile client ended without %q: %v", prefix, p.out.Err())
	return ""
}

func (p *hostileProcess) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// stop ends an attack and returns how many rounds it made.
func (p *hostileProcess) stop(t *testing.T) int {
	t.Helper()
	p.send(t, "stop")
	return p.result(t)
}

// result reads the outcome of an attack: how many rounds it made.
func (p *hostileProcess) result(t *testing.T) int {
	t.Helper()
	var n int
	var msg string
	if _, err := fmt.Sscanf(p.expect(t, "rounds "), "rounds %d error %s", &n, &msg); err != nil {
		t.Fatal(err)
	}
	if msg != "none" {
		t.Fatalf("hostile client: %s", msg)
	}
	return n
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// envHostileConnRate sets the connection creation rate per address of the
// node under attack (Config.ConnectionCreationRatePerIP), by default
// defaultHostileConnRate; 0 measures without one.
const (
	envHostileConnRate     = "STRATA_TEST_HOSTILE_CONN_RATE"
	defaultHostileConnRate = 10
)

// hostileNodeConfig is the configuration of the node under attack: the
// default limits except perIP connections per address, a 1 s request read
// timeout and a connection creation rate per address (KIP-612) measured
// over five windows of a second, so that a refused connection is closed
// within 5 s.
func hostileNodeConfig(t *testing.T, perIP int) func(*Config) {
	rate := float64(defaultHostileConnRate)
	if v := os.Getenv(envHostileConnRate); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatalf("%s: %v", envHostileConnRate, err)
		}
	}
	t.Logf("node under attack: %d connections and %g new connections a second per address", perIP, rate)
	return func(c *Config) {
		c.MaxConnectionsPerIP = perIP
		c.RequestReadTimeout = time.Second
		c.ConnectionCreationRatePerIP = rate
		c.Quotas.WindowNum = 5
	}
}

// TestHostileAttackCost reports the CPU time the node spends on each kind
// of attack: the hostile client (a process of its own) attacks an idle
// node, one kind at a time, and the test process, which is the node and
// nothing else, counts its CPU time. Unlike throughput, CPU time per
// attack hardly depends on the machine's other load.
func TestHostileAttackCost(t *testing.T) {
	const perIP = 50
	s := startServer(t, hostileNodeConfig(t, perIP))
	hostile := startHostileProcess(t, s.addr, perIP+20)
	// Attacks of each kind: those that wait for a timeout, or send tens
	// of MB, take longer.
	counts := []int{200, 200, 5, 5, 20, 20}
	for i, name := range hostileAttacks {
		n := counts[i]
		if testing.Short() {
			n = max(n/10, 2)
		}
		before, start := cpuTime(), time.Now()
		hostile.send(t, fmt.Sprintf("go %d %d", i, n))
		n = hostile.result(t)
		used, took := cpuTime()-before, time.Since(start)
		t.Logf("%-22s %4d attacks in %6v: node CPU %6v, %v per attack", name, n, took.Round(time.Millisecond),
			used.Round(time.Millisecond), (used / time.Duration(n)).Round(time.Microsecond))
	}
}

// TestHostileClientWhileOthersWork runs a well-behaved franz-go producer
// and consumer against one node, alone and then while a hostile client
// attacks the same node (see hostileClient). Under attack, every record
// acked is still consumed exactly once, every attack gets an error or a
// closed connection, and the node's memory grows by no more than its
// request budget. The test reports the well-behaved clients' throughput in
// both cases; the figure is recorded in docs/benchmarks.md, not asserted
// (it depends on the machine and its other load).
func TestHostileClientWhileOthersWork(t *testing.T) {
	const perIP = 50
	s := startServer(t, hostileNodeConfig(t, perIP))
	_, adm := s.clients(t)
	hostile := startHostileProcess(t, s.addr, perIP+20)

	// Alternate short runs alone and under attack, and compare their
	// medians, so that warming up, the topics filling and the machine's
	// other load favour neither.
	rounds, d := 13, time.Second
	if testing.Short() {
		rounds = 3
	}
	var alone, attacked []float64
	var peakAlone, peakAttacked uint64
	attacks := 0
	for round := range rounds {
		topic := fmt.Sprintf("legit-%d", round)
		createTopic(t, adm, topic, 4, nil)
		ctx, cancel := context.WithCancel(context.Background())
		var peak atomic.Uint64
		var wg sync.WaitGroup
		underAttack := round%2 == 1
		if underAttack {
			hostile.send(t, "go -1 0")
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
		rate := wellBehaved(t, s, topic, d)
		cancel()
		wg.Wait()
		if !underAttack {
			alone = append(alone, rate)
			peakAlone = max(peakAlone, peak.Load())
			continue
		}
		attacks += hostile.stop(t)
		attacked = append(attacked, rate)
		peakAttacked = max(peakAttacked, peak.Load())
	}
	median := func(xs []float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		if n := len(xs); n%2 == 0 {
			return (xs[n/2-1] + xs[n/2]) / 2
		}
		return xs[len(xs)/2]
	}
	// Each run under attack against the mean of the runs alone on either
	// side of it.
	var ratios []float64
	for i, rate := range attacked {
		ratios = append(ratios, rate/((alone[i]+alone[i+1])/2))
	}
	t.Logf("well-behaved throughput under attack, median of %d runs of %v each against the runs alone beside them: %.0f%% (%.0f records/s alone, %d attacks, %.0f a second)",
		len(attacked), d, 100*median(ratios), median(alone), attacks, float64(attacks)/(float64(len(attacked))*d.Seconds()))
	t.Logf("runs alone %.0f, under attack %.0f", alone, attacked)
	t.Logf("peak heap of the node's process: %d MiB alone, %d MiB under attack", peakAlone>>20, peakAttacked>>20)
	t.Logf("connections refused: %.0f over the count per address, %.0f over the creation rate per address",
		s.rejected(rejectMaxConnectionsPerIP), s.rejected(rejectConnectionRatePerIP))
	if attacks == 0 {
		t.Fatal("the hostile client made no attack")
	}
	// Under attack the node may hold its request budget's worth of
	// requests more, and the connections.
	if limit := peakAlone + uint64(s.cfg.MaxQueuedRequestBytes) + 64<<20; peakAttacked > limit {
		t.Fatalf("peak heap %d MiB under attack, above %d MiB", peakAttacked>>20, limit>>20)
	}
}
