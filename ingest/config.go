package ingest

import (
	"errors"
	"flag"
	"math"
	"time"
)

// Config holds the produce path's settings.
type Config struct {
	// PutBudget is the most segment PUTs per second this node makes, full
	// segments aside: the open segment is sealed as soon as no upload is
	// in flight and 1/PutBudget has passed since the previous seal, or at
	// once when it is full. 0 is no budget: seal whenever no upload is in
	// flight. Negative is the default: DefaultPutBudget, or no budget when
	// LocalObjects says a PUT costs nothing.
	PutBudget float64
	// LocalObjects is set by the node's wiring when the object store is a
	// local directory; it only changes what a negative PutBudget means.
	LocalObjects bool
	// PutRateCap, when positive, lowers the PUT budget to at most this
	// many PUTs per second (and sets one where there is none): the
	// node's monthly PUT budget in dollars (cost.Config), set by the
	// node's wiring.
	PutRateCap float64
	// FlushInterval is the old setting of the flush timer, kept so that
	// configurations written for it keep working: when positive, the PUT
	// budget is one PUT per FlushInterval (a batch then waits at most
	// about one interval, as before). It cannot be combined with a
	// PutBudget of 0 or more.
	FlushInterval time.Duration
	// SegmentMaxBytes seals the open segment as soon as it holds this many
	// bytes of record batches.
	SegmentMaxBytes int
	// MemoryBudget bounds the bytes held by the open segment and by sealed
	// segments not yet committed. At the budget, Enqueue waits.
	MemoryBudget int64
	// MaxUploads is how many segment PUTs may be in flight at once.
	MaxUploads int
	// UploadTimeout and CommitTimeout bound one PUT and one commit.
	UploadTimeout time.Duration
	CommitTimeout time.Duration
	// MaxCommitDelay bounds, by the node's monotonic clock, the time from
	// the start of a segment's upload to the start of its commit; a later
	// commit is refused (a retriable produce error). The compactor may
	// delete an object it finds without an objects row; the claim that
	// makes a later commit of it fail is kept for
	// compactor.orphan-tombstone-retention, which must be far longer.
	MaxCommitDelay time.Duration
	// QuietInterval, Adaptive and MaxPutsPerSecond were the settings of
	// the quiet rule and of adaptive mode, both replaced by the PUT
	// budget. They are still read so that a configuration that sets them
	// fails with a message that says what to use (Validate).
	QuietInterval    time.Duration
	Adaptive         bool
	MaxPutsPerSecond float64
	// KeyPrefix is put before every object key this node writes.
	KeyPrefix string
	// MaxDecompressedBytes bounds what the records of one compressed
	// batch may decompress to; a larger batch is refused with
	// MESSAGE_TOO_LARGE. Admission reads compressed records as a stream,
	// so the bound limits work, not memory.
	MaxDecompressedBytes int64
}

// RegisterFlags registers the flags of Config with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.PutBudget, "ingest.put-budget", -1, "segment PUTs per second this node makes at most, full segments aside: a segment is sealed as soon as no upload is in flight and the budget allows; 0: no budget; negative: 4, or no budget with a local-directory object store")
	fs.DurationVar(&c.FlushInterval, "ingest.flush-interval", 0, "old name of the PUT budget: one PUT per this interval (ingest.put-budget 1/interval); 0: use ingest.put-budget")
	fs.IntVar(&c.SegmentMaxBytes, "ingest.segment-max-bytes", 8<<20, "seal the open segment when it holds this many bytes")
	fs.DurationVar(&c.QuietInterval, "ingest.quiet-interval", 0, "removed: segments are sealed as soon as no upload is in flight and ingest.put-budget allows")
	fs.Int64Var(&c.MemoryBudget, "ingest.memory-budget", 256<<20, "bytes of open and uploading segments before produce is throttled")
	fs.IntVar(&c.MaxUploads, "ingest.max-uploads", 4, "segment uploads in flight at once")
	fs.DurationVar(&c.UploadTimeout, "ingest.upload-timeout", 30*time.Second, "timeout of one segment upload")
	fs.DurationVar(&c.CommitTimeout, "ingest.commit-timeout", 15*time.Second, "timeout of one segment commit")
	fs.DurationVar(&c.MaxCommitDelay, "ingest.max-commit-delay", 10*time.Minute, "longest time from the start of a segment's upload to the start of its commit; a later commit is refused (retriable); far shorter than compactor.orphan-tombstone-retention")
	fs.StringVar(&c.KeyPrefix, "ingest.key-prefix", "", "prefix of the object keys this node writes")
	fs.BoolVar(&c.Adaptive, "ingest.adaptive", false, "removed: every node seals as soon as no upload is in flight, within ingest.put-budget")
	fs.Float64Var(&c.MaxPutsPerSecond, "ingest.max-puts-per-second", 0, "removed: use ingest.put-budget")
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
	case c.Adaptive:
		return errors.New("ingest.adaptive was removed: every node now seals a segment as soon as no upload is in flight, within ingest.put-budget (PUTs per second; ingest.put-budget 100 is what ingest.adaptive did by default)")
	case c.MaxPutsPerSecond != 0:
		return errors.New("ingest.max-puts-per-second was removed: use ingest.put-budget, the most segment PUTs per second of a node")
	case c.QuietInterval != 0:
		return errors.New("ingest.quiet-interval was removed: a segment is sealed as soon as no upload is in flight and ingest.put-budget allows, so there is nothing to wait for")
	case math.IsNaN(c.PutBudget) || math.IsInf(c.PutBudget, 0):
		return errors.New("ingest.put-budget must be a number of PUTs per second")
	case c.PutBudget > 0 && c.PutBudget < 1.0/3600:
		return errors.New("ingest.put-budget must be at least one PUT an hour (0.0003), or 0 for no budget")
	case c.FlushInterval < 0:
		return errors.New("ingest.flush-interval must not be negative")
	case c.FlushInterval > 0 && c.PutBudget >= 0:
		return errors.New("ingest.flush-interval and ingest.put-budget are both set: ingest.flush-interval is the old way to say ingest.put-budget 1/interval; set only ingest.put-budget")
	case c.SegmentMaxBytes <= 0:
		return errors.New("ingest: segment max bytes must be positive")
	case c.MemoryBudget < int64(c.SegmentMaxBytes):
		return errors.New("ingest: memory budget must be at least the segment max bytes")
	case c.MaxUploads <= 0:
		return errors.New("ingest: max uploads must be positive")
	case c.MaxDecompressedBytes <= 0:
		return errors.New("ingest: max decompressed bytes must be positive")
	case c.UploadTimeout <= 0 || c.CommitTimeout <= 0:
		return errors.New("ingest: timeouts must be positive")
	case c.MaxCommitDelay < c.UploadTimeout:
		return errors.New("ingest: max commit delay must be at least the upload timeout")
	}
	return nil
}

// DefaultPutBudget is the PUT budget of a node that writes to S3 and sets
// none: 4 PUTs a second, the rate of the flush timer it replaced
// (250 ms), about 10.4 million PUTs a month, some $52 at S3's list price.
const DefaultPutBudget = 4

// SealInterval is the shortest time between two seals that the PUT budget
// allows, full segments aside; 0 when there is no budget.
func (c *Config) SealInterval() time.Duration {
	budget := c.PutBudget
	switch {
	case c.FlushInterval > 0:
		budget = float64(time.Second) / float64(c.FlushInterval)
	case budget < 0 && c.LocalObjects:
		budget = 0
	case budget < 0:
		budget = DefaultPutBudget
	}
	if c.PutRateCap > 0 && (budget == 0 || budget > c.PutRateCap) {
		budget = c.PutRateCap
	}
	if budget == 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / budget)
}
