package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	procs "github.com/stratalog/strata/internal/testenv/proc"
)

// Memory budgets of the serve nodes: small, so that what a hostile client
// makes a node hold shows against them. A node's RSS budget is their sum
// (see NodeRSSBudget).
const (
	nodeIngestBudget = 64 << 20
	nodeReaderCache  = 64 << 20
	nodeOverhead     = 256 << 20
	// NodeRSSBudget is the RSS a serve node is configured to stay under.
	NodeRSSBudget = nodeIngestBudget + nodeReaderCache + nodeOverhead
	// nodeAddressSpace caps each node's virtual memory: a node asked to
	// allocate tens of GiB dies at once instead of taking the machine's
	// memory from everything else on it.
	nodeAddressSpace = 8 << 30
)

// ClusterConfig describes the cluster the harness starts.
type ClusterConfig struct {
	// Dir holds the data and logs of every process.
	Dir string
	// StrataBin and MinioBin are the binaries to run.
	StrataBin, MinioBin string
	// Nodes is the number of serve nodes (roles ingest, reader,
	// coordinator, controller). A separate node runs the compactor.
	Nodes int
	// Lease is the node lease (-cluster.lease).
	Lease time.Duration
	// Standby starts a synchronous PostgreSQL standby for failover.
	Standby bool
	// NodeArgs are more flags for every node.
	NodeArgs []string
	// Seed seeds the proxies' choice of the requests a fault hits.
	Seed uint64
}

// Cluster is the system under test: serve nodes and a compactor node, each
// behind its own S3 proxy and its own TCP proxies to both PostgreSQL
// slots, a PostgreSQL primary (and standby) and a MinIO server.
type Cluster struct {
	cfg       ClusterConfig
	PG        *Postgres
	Minio     *Minio
	Nodes     []*Node // serve nodes
	Compactor *Node
}

// Node is one strata serve process and its proxies.
type Node struct {
	ID        int32
	Name      string
	Roles     string
	KafkaAddr string
	AdminAddr string
	S3        *S3Proxy
	PG        [2]*TCPProxy

	bin     string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	proc   *procs.Process
	starts int
}

// StartCluster starts PostgreSQL, MinIO, the proxies and the nodes, and
// waits until every node sees every other.
func StartCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	if cfg.Nodes < 1 {
		cfg.Nodes = 3
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Second
	}
	c := &Cluster{cfg: cfg}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.PG, err = StartPostgres(ctx, cfg.Dir, cfg.Standby); err != nil {
		return nil, err
	}
	if c.Minio, err = StartMinio(ctx, cfg.MinioBin, cfg.Dir); err != nil {
		return nil, err
	}
	for i := 0; i <= cfg.Nodes; i++ {
		id := int32(i + 1)
		name, roles := fmt.Sprintf("n%d", id), "ingest,reader,coordinator,controller"
		if i == cfg.Nodes {
			name, roles = "compactor", "compactor"
		}
		n, err := c.newNode(id, name, roles)
		if err != nil {
			return nil, err
		}
		if i == cfg.Nodes {
			c.Compactor = n
		} else {
			c.Nodes = append(c.Nodes, n)
		}
	}
	for _, n := range c.All() {
		if err := n.Start(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.WaitFormed(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) newNode(id int32, name, roles string) (*Node, error) {
	s3p, err := NewS3Proxy(name, c.Minio.URL(), c.cfg.Seed+uint64(id))
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, Name: name, Roles: roles, S3: s3p, bin: c.cfg.StrataBin, logPath: filepath.Join(c.cfg.Dir, name+".log")}
	var hosts []string
	for i, addr := range c.PG.Addrs() {
		if i == 1 && !c.PG.HasStandby() {
			break
		}
		px, err := NewTCPProxy(name+"-pg", addr)
		if err != nil {
			return nil, err
		}
		n.PG[i] = px
		hosts = append(hosts, px.Addr())
	}
	if n.KafkaAddr, err = procs.FreeAddr(); err != nil {
		return nil, err
	}
	if n.AdminAddr, err = procs.FreeAddr(); err != nil {
		return nil, err
	}
	// Both servers, as a managed database's failover URL lists them:
	// the client takes the one that accepts writes.
	pgURL := (&url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     strings.Join(hosts, ","),
		Path:     "/" + pgDatabase,
		RawQuery: "sslmode=disable&target_session_attrs=read-write&connect_timeout=3",
	}).String()
	lease := c.cfg.Lease
	n.args = []string{"serve",
		"-kafka.node-id", strconv.Itoa(int(id)),
		"-kafka.listen-address", n.KafkaAddr,
		"-admin.listen-address", n.AdminAddr,
		"-kafka.rack", name,
		"-roles", roles,
		"-cluster.lease", lease.String(),
		"-cluster.controller-interval", "250ms",
		"-cluster.refresh-interval", "100ms",
		// A node restarted after SIGKILL finds its old registration
		// live until the lease ends.
		"-cluster.register-wait", (2 * lease).String(),
		"-groups.initial-rebalance-delay", "300ms",
		"-groups.min-session-timeout", "1s",
		"-ingest.flush-interval", "50ms",
		"-ingest.upload-timeout", "5s",
		"-ingest.commit-timeout", "5s",
		"-ingest.memory-budget", strconv.Itoa(nodeIngestBudget),
		"-reader.cache-bytes", strconv.Itoa(nodeReaderCache),
		"-reader.fetch-timeout", "5s",
		"-memory.overhead", strconv.Itoa(nodeOverhead),
		"-objstore.url", "s3://" + minioBucket,
		"-objstore.endpoint", s3p.URL(),
		"-objstore.region", minioRegion,
		"-objstore.path-style=true",
		// Merge, expire and collect often, so that a short run does
		// all of it many times.
		"-compactor.interval", "1s",
		"-compactor.min-level0-chunks", "16",
		"-compactor.min-level0-bytes", strconv.Itoa(1 << 20),
		"-compactor.max-level0-age", "5s",
		"-compactor.target-object-bytes", strconv.Itoa(4 << 20),
		"-compactor.lease-ttl", "5s",
		"-compactor.delete-grace", "10s",
		"-compactor.orphan-grace", "2m",
		"-compactor.orphan-interval", "2s",
		"-compactor.stats-interval", "5s",
		"-compactor.request-timeout", "10s",
	}
	n.args = append(n.args, c.cfg.NodeArgs...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			n.env = append(n.env, kv)
		}
	}
	// Secrets go through the environment, never the command line that
	// the logs record.
	n.env = append(n.env,
		"STRATA_METASTORE_POSTGRES_URL="+pgURL,
		"STRATA_OBJSTORE_ACCESS_KEY_ID="+minioUser,
		"STRATA_OBJSTORE_SECRET_ACCESS_KEY="+minioPassword,
	)
	return n, nil
}

// All returns the serve nodes and the compactor node.
func (c *Cluster) All() []*Node {
	out := append([]*Node(nil), c.Nodes...)
	if c.Compactor != nil {
		out = append(out, c.Compactor)
	}
	return out
}

// Brokers are the Kafka addresses of the serve nodes.
func (c *Cluster) Brokers() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.KafkaAddr)
	}
	return out
}

// WaitFormed waits until every running node lists every running node as
// a broker.
func (c *Cluster) WaitFormed(ctx context.Context) error {
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var running []*Node
	for _, n := range c.All() {
		if n.Running() {
			running = append(running, n)
		}
	}
	var last error
	for {
		ok := true
		for _, n := range running {
			brokers, err := brokerCount(deadline, n.KafkaAddr)
			if err != nil || brokers != len(running) {
				ok = false
				last = fmt.Errorf("%s lists %d brokers of %d (%v)", n.Name, brokers, len(running), err)
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-deadline.Done():
			return fmt.Errorf("chaos: cluster not formed: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// brokerCount asks one node for its live brokers.
func brokerCount(ctx context.Context, addr string) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := cl.SeedBrokers()[0].Request(rctx, req) // the node itself
	if err != nil {
		return 0, err
	}
	return len(resp.(*kmsg.MetadataResponse).Brokers), nil
}

// Stop stops every process and proxy of the cluster.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.All() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.Stop()
			n.S3.Close()
			for _, p := range n.PG {
				if p != nil {
					p.Close()
				}
			}
		}()
	}
	wg.Wait()
	if c.Minio != nil {
		c.Minio.Stop()
	}
	if c.PG != nil {
		c.PG.Stop()
	}
}

// Start starts the node (again) and waits until /readyz answers 200.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.proc != nil && n.proc.Running() {
		n.mu.Unlock()
		return fmt.Errorf("chaos: %s already running", n.Name)
	}
	n.starts++
	cmd := exec.Command(n.bin, n.args...)
	cmd.Env = n.env
	p, err := startProc(n.Name, cmd, n.logPath, nil)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	n.proc = p
	n.mu.Unlock()
	if err := setAddressSpaceLimit(p.Pid(), nodeAddressSpace); err != nil {
		return fmt.Errorf("chaos: limit %s's memory: %w", n.Name, err)
	}
	return n.waitReady(ctx, p, time.Minute)
}

func (n *Node) waitReady(ctx context.Context, p *procs.Process, timeout time.Duration) error {
	deadline, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := p.WaitReady(deadline, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.AdminAddr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	return nil
}

// Ready reports whether the node answers /readyz with 200.
func (n *Node) Ready(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+n.AdminAddr+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (n *Node) current() *procs.Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Running reports whether the node's process is alive (also when paused).
func (n *Node) Running() bool {
	p := n.current()
	return p != nil && p.Running()
}

// Exited describes how the node's process ended.
func (n *Node) Exited() string {
	if p := n.current(); p != nil {
		return p.Exited()
	}
	return "never started"
}

// Kill sends SIGKILL and waits for the exit.
func (n *Node) Kill() {
	if p := n.current(); p != nil && p.Running() {
		p.Kill()
	}
}

// Pause sends SIGSTOP.
func (n *Node) Pause() error {
	p := n.current()
	if p == nil {
		return errors.New("chaos: not started")
	}
	return p.Signal(syscall.SIGSTOP)
}

// Resume sends SIGCONT.
func (n *Node) Resume() error {
	p := n.current()
	if p == nil {
		return errors.New("chaos: not started")
	}
	return p.Signal(syscall.SIGCONT)
}

// Stop stops the node: SIGTERM, then SIGKILL after a grace period.
func (n *Node) Stop() {
	if p := n.current(); p != nil && p.Running() {
		p.Stop(syscall.SIGTERM, 15*time.Second)
	}
}

// RSS is the node's resident set size.
func (n *Node) RSS() (int64, error) {
	p := n.current()
	if p == nil || !p.Running() {
		return 0, errors.New("chaos: not running")
	}
	return rssBytes(p.Pid())
}

// Starts is how many times the node was started.
func (n *Node) Starts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts
}

// LogPath is the node's log file.
func (n *Node) LogPath() string { return n.logPath }
