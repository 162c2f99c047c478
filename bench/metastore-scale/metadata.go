package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/bench"
	procs "github.com/stratalog/strata/internal/testenv/proc"
)

// metadataStats is what a client measured of Metadata for every topic.
type metadataStats struct {
	latency    bench.Histogram
	topics     int
	partitions int
	leadersIn  time.Duration // until the node's controller had led every partition
	requests   int
	failed     int     // requests that failed (timed out), left out of latency
	lastErr    string  // the last failure
	nodeCPU    float64 // CPU seconds of the node per request
	clientCPU  float64 // CPU seconds of this process (franz-go's decoding) per request
}

// measureMetadata starts a strata node on database db (its front door, the
// ingest role and the controller, objects in a local directory that stays
// empty) and asks it, through franz-go, for the metadata of every topic,
// requests times one after the other, once the controller has given every
// partition a leader.
func measureMetadata(ctx context.Context, strataBin, dir, db string, requests int, extra []string) (*metadataStats, error) {
	objects := filepath.Join(dir, "objects")
	if err := os.MkdirAll(objects, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"serve",
		"-roles", "ingest,reader,coordinator,controller", "-log.level", "warn",
		"-metastore.postgres.url", db, "-objstore.url", "file://" + objects}, extra...)
	node, err := procs.StartStrata(strataBin, dir, args...)
	if err != nil {
		return nil, err
	}
	defer node.Stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddr), kgo.RequestTimeoutOverhead(time.Minute))
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	ms := &metadataStats{requests: requests}
	ask := func() (*kmsg.MetadataResponse, error) {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = nil // every topic
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return req.RequestWith(ctx, cl)
	}
	start := time.Now()
	for {
		resp, err := ask()
		if err == nil {
			missing := 0
			ms.topics, ms.partitions = len(resp.Topics), 0
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					ms.partitions++
					if p.Leader < 0 || p.ErrorCode != 0 {
						missing++
					}
				}
			}
			// A partition without a leader in the metastore is reported
			// with one chosen by hashing: wait for the controller's.
			var unassigned int64
			if missing == 0 && ms.partitions > 0 {
				if c, cerr := pgx.Connect(ctx, db); cerr == nil {
					cerr = c.QueryRow(ctx, "SELECT count(*) FROM partitions WHERE leader_node < 0").Scan(&unassigned)
					c.Close(ctx)
					if cerr == nil && unassigned == 0 {
						break
					}
				}
			}
		}
		if time.Since(start) > 3*time.Minute {
			return nil, fmt.Errorf("metadata: partitions still without a leader after %v (last error: %v)", time.Since(start), err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	ms.leadersIn = time.Since(start)
	pid := node.Process().Pid()
	_, node0, _, _ := procStat(pid)
	self0 := selfCPU()
	for range requests {
		t := time.Now()
		if _, err := ask(); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// A request that failed (the client's read timed out on a
			// starved machine) is counted and left out of the latency.
			ms.failed++
			ms.lastErr = err.Error()
			continue
		}
		ms.latency.Record(time.Since(t))
	}
	_, node1, _, _ := procStat(pid)
	ms.nodeCPU = (node1 - node0) / float64(requests)
	ms.clientCPU = (selfCPU() - self0) / float64(requests)
	return ms, nil
}
