package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// fetchBytes counts the bytes of a client's Fetch requests and responses.
type fetchBytes struct{ requests, written, read atomic.Int64 }

func (f *fetchBytes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == kmsg.Fetch.Int16() && err == nil {
		f.requests.Add(1)
		f.written.Add(int64(n))
	}
}

func (f *fetchBytes) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == kmsg.Fetch.Int16() && err == nil {
		f.read.Add(int64(n))
	}
}

// processCPU returns the user and system CPU time a process has used.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// BenchmarkFetchSessions: a consumer of a 1,000-partition topic to which a
// trickle of records arrives (1,000 records/s, each to the next
// partition), with and without incremental fetch sessions (KIP-227). It
// reports the bytes of each fetch request and response and the CPU the
// broker process spends per record consumed: in all, and beyond what the
// same trickle costs it without a consumer (produce-only, run first with
// the same -benchtime).
//
//	go test -run '^$' -bench FetchSessions -benchtime 5000x ./internal/e2e/
func BenchmarkFetchSessions(b *testing.B) {
	dir := b.TempDir()
	bin, err := proc.BuildStrata(dir)
	if err != nil {
		b.Fatal(err)
	}
	st, err := proc.NewStrata(bin, dir, "dev", "-data-dir", filepath.Join(dir, "data"), "-log.level", "warn")
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Start(); err != nil {
		b.Fatal(err)
	}
	defer st.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const partitions = 1000
	// Records go to partition after partition, 50 ms of them to a
	// produce request, so that the produce side costs the broker little
	// beside the fetches measured.
	producer, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	if _, err := kadm.NewClient(producer).CreateTopic(ctx, partitions, 1, nil, "quiet"); err != nil {
		b.Fatal(err)
	}

	// trickle produces n records at 1,000 a second and waits for their acks.
	trickle := func(n int) error {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for range n {
			<-tick.C
			producer.Produce(ctx, &kgo.Record{Topic: "quiet", Value: []byte("v")}, nil)
		}
		return producer.Flush(ctx)
	}
	cpu := func(b *testing.B) time.Duration {
		d, err := processCPU(st.Process().Pid())
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	// The broker's CPU for the trickle alone, per record, by b.N: what the
	// runs with a consumer spend beyond it is the consumer's.
	base := map[int]float64{}
	b.Run("produce-only", func(b *testing.B) {
		cpu0 := cpu(b)
		if err := trickle(b.N); err != nil {
			b.Fatal(err)
		}
		base[b.N] = float64((cpu(b) - cpu0).Microseconds()) / float64(b.N)
		b.ReportMetric(base[b.N], "broker-cpu-µs/record")
	})
	for _, sessions := range []bool{true, false} {
		name := "sessions"
		if !sessions {
			name = "no-sessions"
		}
		b.Run(name, func(b *testing.B) {
			counts := &fetchBytes{}
			opts := []kgo.Opt{kgo.SeedBrokers(st.KafkaAddr), kgo.ConsumeTopics("quiet"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(100 * time.Millisecond), kgo.WithHooks(counts)}
			if !sessions {
				opts = append(opts, kgo.DisableFetchSessions())
			}
			consumer, err := kgo.NewClient(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer consumer.Close()
			// The first fetches list every partition either way; measure
			// from a consumer already polling at the end.
			// (franz-go fetches in the background, polled or not.)
			testenv.WaitFor(b, time.Minute, "the consumer's first fetches", func() bool { return counts.requests.Load() >= 3 })
			reqs0, w0, r0 := counts.requests.Load(), counts.written.Load(), counts.read.Load()
			cpu0 := cpu(b)
			b.ResetTimer()
			done := make(chan error, 1)
			go func() { done <- trickle(b.N) }()
			profiled := profileBroker(b, st.AdminAddr, name)
			consumed := 0
			for consumed < b.N {
				fs := consumer.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					b.Fatal(err)
				}
				consumed += fs.NumRecords()
			}
			b.StopTimer()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			cpu1 := cpu(b)
			if err := <-profiled; err != nil {
				b.Error(err)
			}
			reqs := float64(counts.requests.Load() - reqs0)
			b.ReportMetric(float64(counts.written.Load()-w0)/reqs, "req-B/fetch")
			b.ReportMetric(float64(counts.read.Load()-r0)/reqs, "resp-B/fetch")
			b.ReportMetric(reqs/float64(b.N), "fetches/record")
			perRecord := float64((cpu1 - cpu0).Microseconds()) / float64(b.N)
			b.ReportMetric(perRecord, "broker-cpu-µs/record")
			if bs, ok := base[b.N]; ok {
				b.ReportMetric(perRecord-bs, "fetch-cpu-µs/record")
			}
		})
	}
}

// profileBroker writes, when $STRATA_BROKER_CPUPROFILE names a file, a
// 3-second CPU profile of the broker to that file with name appended; the
// channel gives the outcome once the profile is written.
func profileBroker(b *testing.B, adminAddr, name string) <-chan error {
	out := make(chan error, 1)
	path := os.Getenv("STRATA_BROKER_CPUPROFILE")
	if path == "" {
		out <- nil
		return out
	}
	go func() {
		resp, err := http.Get("http://" + adminAddr + "/debug/pprof/profile?seconds=3")
		if err != nil {
			out <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path + "." + name)
		if err != nil {
			out <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		out <- errors.Join(err, f.Close())
	}()
	return out
}
