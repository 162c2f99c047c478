package ingest

import (
	"errors"
	"flag"
	"time"
)

// Config holds the produce path's settings.
type Config struct {
	// FlushInterval is the longest a batch waits in the open segment before
	// the segment is sealed and uploaded.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// SegmentMaxBytes seals the open segment as soon as it holds this many
	// bytes of record batches.
	SegmentMaxBytes int `yaml:"segment_max_bytes"`
	// MemoryBudget bounds the bytes held by the open segment and by sealed
	// segments not yet committed. At the budget, Enqueue waits.
	MemoryBudget int64 `yaml:"memory_budget"`
	// MaxUploads is how many segment PUTs may be in flight at once.
	MaxUploads int `yaml:"max_uploads"`
	// UploadTimeout and CommitTimeout bound one PUT and one commit.
	UploadTimeout time.Duration `yaml:"upload_timeout"`
	CommitTimeout time.Duration `yaml:"commit_timeout"`
	// MaxCommitDelay bounds, by the node's monotonic clock, the time from
	// the start of a segment's upload to the start of its commit; a later
	// commit is refused (a retriable produce error). The compactor may
	// delete an object it finds without an objects row; the claim that
	// makes a later commit of it fail is kept for
	// compactor.orphan-tombstone-retention, which must be far longer.
	MaxCommitDelay time.Duration `yaml:"max_commit_delay"`
	// QuietInterval seals a segment once no produce has added to it for
	// this long, when it holds at least half of SegmentMaxBytes or, at the
	// node's recent byte rate, half a segment's worth of time has passed
	// since the previous seal: its producers are most likely waiting for
	// it, and quiet seals make at most as many PUTs as half-full segments
	// would. 0 turns this off.
	QuietInterval time.Duration `yaml:"quiet_interval"`
	// KeyPrefix is put before every object key this node writes.
	KeyPrefix string `yaml:"key_prefix"`
	// Adaptive seals the open segment as soon as no upload is in flight,
	// instead of waiting for FlushInterval: at low load a produce is
	// acknowledged after about one PUT and one commit, at high load
	// segments fill while the previous one uploads. MaxPutsPerSecond caps
	// the node's PUT rate in this mode; FlushInterval still bounds the wait.
	Adaptive         bool    `yaml:"adaptive"`
	MaxPutsPerSecond float64 `yaml:"max_puts_per_second"`
	// MaxDecompressedBytes bounds what the records of one compressed
	// batch may decompress to; a larger batch is refused with
	// MESSAGE_TOO_LARGE. Admission reads compressed records as a stream,
	// so the bound limits work, not memory.
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
}

// RegisterFlags registers the flags of Config with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.FlushInterval, "ingest.flush-interval", 250*time.Millisecond, "longest time a produced batch waits before its segment is uploaded")
	fs.IntVar(&c.SegmentMaxBytes, "ingest.segment-max-bytes", 8<<20, "seal the open segment when it holds this many bytes")
	fs.DurationVar(&c.QuietInterval, "ingest.quiet-interval", 3*time.Millisecond, "seal a segment once nothing was added to it for this long, if it is at least half of ingest.segment-max-bytes full or the node, at its recent byte rate, received that much since the previous seal; 0: never")
	fs.Int64Var(&c.MemoryBudget, "ingest.memory-budget", 256<<20, "bytes of open and uploading segments before produce is throttled")
	fs.IntVar(&c.MaxUploads, "ingest.max-uploads", 4, "segment uploads in flight at once")
	fs.DurationVar(&c.UploadTimeout, "ingest.upload-timeout", 30*time.Second, "timeout of one segment upload")
	fs.DurationVar(&c.CommitTimeout, "ingest.commit-timeout", 15*time.Second, "timeout of one segment commit")
	fs.DurationVar(&c.MaxCommitDelay, "ingest.max-commit-delay", 10*time.Minute, "longest time from the start of a segment's upload to the start of its commit; a later commit is refused (retriable); far shorter than compactor.orphan-tombstone-retention")
	fs.StringVar(&c.KeyPrefix, "ingest.key-prefix", "", "prefix of the object keys this node writes")
	fs.BoolVar(&c.Adaptive, "ingest.adaptive", false, "seal the open segment as soon as the previous upload finished, within ingest.max-puts-per-second")
	fs.Float64Var(&c.MaxPutsPerSecond, "ingest.max-puts-per-second", 100, "in adaptive mode, the most segment PUTs per second this node makes")
	fs.Int64Var(&c.MaxDecompressedBytes, "ingest.max-decompressed-bytes", 256<<20, "largest size the records of one compressed batch may decompress to")
}

// Defaults returns a Config with the flag defaults.
func Defaults() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.FlushInterval <= 0:
		return errors.New("ingest: flush interval must be positive")
	case c.SegmentMaxBytes <= 0:
		return errors.New("ingest: segment max bytes must be positive")
	case c.MemoryBudget < int64(c.SegmentMaxBytes):
		return errors.New("ingest: memory budget must be at least the segment max bytes")
	case c.QuietInterval < 0:
		return errors.New("ingest: quiet interval must not be negative")
	case c.MaxUploads <= 0:
		return errors.New("ingest: max uploads must be positive")
	case c.Adaptive && c.MaxPutsPerSecond <= 0:
		return errors.New("ingest: max puts per second must be positive in adaptive mode")
	case c.MaxDecompressedBytes <= 0:
		return errors.New("ingest: max decompressed bytes must be positive")
	case c.UploadTimeout <= 0 || c.CommitTimeout <= 0:
		return errors.New("ingest: timeouts must be positive")
	case c.MaxCommitDelay < c.UploadTimeout:
		return errors.New("ingest: max commit delay must be at least the upload timeout")
	}
	return nil
}
