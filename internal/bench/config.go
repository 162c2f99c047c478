package bench

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Payload kinds.
const (
	PayloadJSON   = "json"
	PayloadRandom = "random"
)

// Config is one load: what to send, how fast, for how long, and where.
type Config struct {
	// Brokers is the comma-separated list of bootstrap servers.
	Brokers string
	// Topic is created with Partitions partitions when it does not exist.
	Topic      string
	Partitions int

	RecordSize int
	Payload    string

	// Producers is the number of producer clients, each with its own
	// connections.
	Producers int
	// Workers is, in sync mode, the number of goroutines that each
	// produce one record and wait for its ack before the next; they share
	// the Producers clients.
	Workers int
	// Records, in sync mode, ends the run once this many records are
	// acked; 0 runs for Duration, which also bounds a run with Records.
	Records int
	// Consumers is the number of consumer clients of a consume run; the
	// partitions are shared out among them.
	Consumers int
	// Rate is the offered load in records per second over all producers;
	// 0 sends as fast as the producers' buffers allow.
	Rate     int
	Duration time.Duration
	// DrainTimeout bounds the wait for outstanding acks and, in e2e mode,
	// for the consumer to catch up after the producers stop.
	DrainTimeout time.Duration
	// Warmup leaves the records sent in the first part of the run out of
	// the latency percentiles (they still count in the rates): a Kafka
	// client starts with one produce request in flight per broker until
	// the first answer, so the first records measure its start.
	Warmup time.Duration

	Acks        string
	Compression string
	Idempotent  bool
	Linger      time.Duration
	// MaxInflight is the most produce requests a producer that is not
	// idempotent keeps in flight per broker (an idempotent one: 5, fixed
	// by the client).
	MaxInflight int
	// MaxBuffered is the most records one producer holds unacked.
	MaxBuffered int

	// Admin is the base URL of Strata's admin HTTP (http://host:9644);
	// when set, /metrics is read before and after the run.
	Admin string
	// Progress is the interval of the progress line; 0 disables it.
	Progress time.Duration
	// JSON prints the summary as JSON instead of text.
	JSON bool
	// Hist names a file for the latency histograms as an HdrHistogram
	// interval log, one interval per progress interval.
	Hist string
	// Plot names a PNG file for a chart of throughput and latency
	// percentiles over the run.
	Plot string
}

// RegisterFlags registers the load flags with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "brokers", "127.0.0.1:9092", "comma-separated bootstrap servers")
	fs.StringVar(&c.Topic, "topic", "strata-bench", "topic, created when missing")
	fs.IntVar(&c.Partitions, "partitions", 64, "partitions of the topic when it is created")
	fs.IntVar(&c.RecordSize, "record-size", 1024, "bytes of each record value")
	fs.StringVar(&c.Payload, "payload", PayloadJSON, "record values: json (realistic events that compress like real data) or random (incompressible)")
	fs.IntVar(&c.Producers, "producers", 1, "producer clients")
	fs.IntVar(&c.Workers, "workers", 1, "sync: goroutines that each produce one record and wait for its ack before the next, sharing the producer clients")
	fs.IntVar(&c.Records, "records", 0, "sync: stop once this many records are acked (0: run for -duration)")
	fs.IntVar(&c.Consumers, "consumers", 1, "consumer clients of a consume run, each reading its share of the partitions")
	fs.IntVar(&c.Rate, "rate", 0, "offered load in records/s over all producers; 0: as fast as possible")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "how long to produce (produce, e2e) or at most to consume (consume)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "longest wait for outstanding acks and, in e2e, for the consumer after the producers stop")
	fs.DurationVar(&c.Warmup, "warmup", 0, "leave the latencies of records sent in the first part of the run out of the percentiles")
	fs.StringVar(&c.Acks, "acks", "all", "producer acks: all, 1 or 0")
	fs.StringVar(&c.Compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.BoolVar(&c.Idempotent, "idempotent", true, "idempotent producer (needs acks=all)")
	fs.DurationVar(&c.Linger, "linger", 5*time.Millisecond, "how long a partition's batch waits for more records")
	fs.IntVar(&c.MaxInflight, "max-inflight", 5, "produce requests in flight per broker of a producer that is not idempotent (an idempotent one keeps 5)")
	fs.IntVar(&c.MaxBuffered, "max-buffered", 10000, "records one producer holds before Produce blocks")
	fs.StringVar(&c.Admin, "admin", "", "base URL of Strata's admin HTTP (e.g. http://127.0.0.1:9644) to read /metrics before and after")
	fs.DurationVar(&c.Progress, "progress", time.Second, "interval of the progress line on stderr; 0 disables it")
	fs.BoolVar(&c.JSON, "json", false, "print the summary as JSON on stdout")
	fs.StringVar(&c.Hist, "hist", "", "write the latency histograms to this file as an HdrHistogram interval log (one interval per -progress, tags produce and e2e)")
	fs.StringVar(&c.Plot, "plot", "", "draw throughput and latency percentiles over the run into this PNG file")
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Brokers) == "":
		return errors.New("brokers: required")
	case c.Topic == "":
		return errors.New("topic: required")
	case c.Partitions < 1:
		return fmt.Errorf("partitions: %d, want at least 1", c.Partitions)
	case c.RecordSize < 16:
		return fmt.Errorf("record-size: %d, want at least 16", c.RecordSize)
	case c.Payload != PayloadJSON && c.Payload != PayloadRandom:
		return fmt.Errorf("payload: %q, want json or random", c.Payload)
	case c.Producers < 1:
		return fmt.Errorf("producers: %d, want at least 1", c.Producers)
	case c.Workers < 1:
		return fmt.Errorf("workers: %d, want at least 1", c.Workers)
	case c.Records < 0:
		return fmt.Errorf("records: %d, want 0 (run for -duration) or more", c.Records)
	case c.Consumers < 1:
		return fmt.Errorf("consumers: %d, want at least 1", c.Consumers)
	case c.Rate < 0:
		return fmt.Errorf("rate: %d, want 0 (max) or more", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("duration: %v, want more than 0", c.Duration)
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("warmup: %v, want 0 or more and less than the duration %v", c.Warmup, c.Duration)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("drain-timeout: %v, want more than 0", c.DrainTimeout)
	case c.MaxInflight < 1:
		return fmt.Errorf("max-inflight: %d, want at least 1", c.MaxInflight)
	case c.MaxBuffered < 1:
		return fmt.Errorf("max-buffered: %d, want at least 1", c.MaxBuffered)
	case c.Linger < 0:
		return fmt.Errorf("linger: %v, want 0 or more", c.Linger)
	case c.Progress < 0:
		return fmt.Errorf("progress: %v, want 0 or more", c.Progress)
	}
	switch c.Acks {
	case "all", "-1", "1", "0":
	default:
		return fmt.Errorf("acks: %q, want all, 1 or 0", c.Acks)
	}
	if c.Idempotent && c.Acks != "all" && c.Acks != "-1" {
		return fmt.Errorf("idempotent: needs acks=all, have acks=%s", c.Acks)
	}
	switch c.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		return fmt.Errorf("compression: %q, want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	return nil
}
