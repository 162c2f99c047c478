package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stratalog/strata/internal/app"
	"github.com/stratalog/strata/internal/bench"
)

// serveNode is one `strata serve` with a database and a bucket of its own.
// It can be stopped and started again on the same data with other flags
// (a restart empties its caches; another set of roles).
type serveNode struct {
	e      *env
	name   string
	dir    string
	db     string
	bucket string
	kafka  string // host:port
	admin  string // http://host:port
	p      *proc
	starts int
}

// newServe creates the database and the bucket of a fresh node; start
// runs it.
func (e *env) newServe(ctx context.Context, name string) (*serveNode, error) {
	dir := filepath.Join(e.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bucket, err := e.newBucket(ctx)
	if err != nil {
		return nil, err
	}
	db, err := e.pg.createDB(ctx, strings.ReplaceAll(name, "-", "_"))
	if err != nil {
		return nil, err
	}
	kafka, admin, err := twoPorts()
	if err != nil {
		return nil, err
	}
	return &serveNode{e: e, name: name, dir: dir, db: db, bucket: bucket, kafka: kafka, admin: "http://" + admin}, nil
}

// start runs strata serve on the node's database and bucket with extra
// flags after the common ones, and waits until it is ready.
func (n *serveNode) start(extra ...string) error {
	if n.p != nil {
		return fmt.Errorf("%s: already running", n.name)
	}
	args := []string{"serve",
		"-kafka.listen-address", n.kafka, "-admin.listen-address", strings.TrimPrefix(n.admin, "http://"),
		"-log.level", "warn",
		"-metastore.postgres.url", n.db,
		"-objstore.url", "s3://" + n.bucket, "-objstore.endpoint", n.e.minio.endpoint,
		"-objstore.region", "us-east-1", "-objstore.access-key-id", minioUser,
		"-objstore.secret-access-key", minioSecret, "-objstore.path-style",
		// A restart registers the same node id again; the previous process
		// left the registry on its way out, this only covers a slow exit.
		"-cluster.register-wait", "30s",
	}
	args = append(args, extra...)
	n.starts++
	cmd := exec.Command(n.e.strata, args...)
	p, err := start(n.name, filepath.Join(n.dir, fmt.Sprintf("strata-%d.log", n.starts)), cmd)
	if err != nil {
		return err
	}
	if err := p.waitFor(60*time.Second, httpOK(n.admin+"/readyz")); err != nil {
		p.stop(syscall.SIGKILL, time.Second)
		return err
	}
	n.p = p
	return nil
}

// stop shuts the node down gracefully (it commits what it accepted).
func (n *serveNode) stop() {
	if n.p == nil {
		return
	}
	n.p.stop(syscall.SIGTERM, 30*time.Second)
	n.p = nil
}

func (n *serveNode) pid() int { return n.p.Pid() }

// alive reports whether the process has not exited.
func (n *serveNode) alive() bool {
	if n.p == nil {
		return false
	}
	select {
	case <-n.p.Done():
		return false
	default:
		return true
	}
}

func (n *serveNode) scrape(ctx context.Context) (bench.Metrics, error) {
	return bench.Scrape(ctx, n.admin)
}

// window is two scrapes of a node's /metrics and the time between them.
type window struct {
	before, after bench.Metrics
	seconds       float64
}

// measure scrapes the node, runs f, and scrapes it again.
func (n *serveNode) measure(ctx context.Context, f func() error) (*window, error) {
	before, err := n.scrape(ctx)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	ferr := f()
	secs := time.Since(t0).Seconds()
	after, err := n.scrape(ctx)
	if err != nil {
		return nil, err
	}
	return &window{before: before, after: after, seconds: secs}, ferr
}

// delta is how much the samples named name that carry the labels of match
// grew over the window.
func (w *window) delta(name string, match map[string]string) float64 {
	return w.after.Sum(name, match) - w.before.Sum(name, match)
}

func (w *window) rate(name string, match map[string]string) float64 {
	if w.seconds <= 0 {
		return 0
	}
	return w.delta(name, match) / w.seconds
}

// Metric names the phases read. Segment PUTs are counted by the ingest
// path (one PUT per sealed segment, whatever its outcome); every other PUT
// of a node comes from its compactor, whose level-1 objects each end in
// one swap.
const (
	mObjRequests   = "strata_objstore_requests_total"
	mSegments      = "strata_ingest_segments_total"
	mSegmentBytes  = "strata_ingest_segment_bytes"
	mBuffered      = "strata_ingest_buffered_bytes"
	mThrottle      = "strata_ingest_throttle_seconds_total"
	mCommitTxns    = "strata_metastore_operation_seconds_count"
	mRounds        = "strata_compactor_rounds_total"
	mRoundSeconds  = "strata_compactor_round_seconds"
	mSwaps         = "strata_compactor_swaps_total"
	mObjWritten    = "strata_compactor_objects_written_total"
	mLevel0Chunks  = "strata_compactor_level0_chunks"
	mObjectsLevels = "strata_compactor_objects"
	mDecoded       = "strata_reader_chunks_decoded_total"
)

var (
	opPut    = map[string]string{"op": "put"}
	opCommit = map[string]string{"op": "commit_segment"}
	resultOK = map[string]string{"result": "ok"}
)

// flagDefaults are the defaults of strata serve's flags, read from the same
// registration the binary uses, so that the report names the values the
// server really ran with.
func flagDefaults() *flag.FlagSet {
	var c app.Config
	fs := flag.NewFlagSet("strata", flag.ContinueOnError)
	c.RegisterFlags(fs)
	return fs
}

func defaultOf(name string) (string, error) {
	f := flagDefaults().Lookup(name)
	if f == nil {
		return "", fmt.Errorf("strata serve has no flag -%s", name)
	}
	return f.DefValue, nil
}

func defaultBytes(name string) (int64, error) {
	v, err := defaultOf(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("default of -%s: %w", name, err)
	}
	return n, nil
}

// procStatus reads the kB value of field (VmRSS, VmHWM) from
// /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != field {
			continue
		}
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// cpuSeconds is the user and system CPU time that process pid has used so
// far, from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its end.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	const ticks = 100 // USER_HZ on Linux
	return float64(ut+st) / ticks, nil
}
