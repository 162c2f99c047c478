package compactor

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/stratalog/strata/internal/topicconfig"
)

// Config holds the compactor's settings. Retention and key compaction
// settings are broker defaults of topic configs (TopicDefaults): a topic's
// own configs (retention.ms, retention.bytes, delete.retention.ms,
// min.cleanable.dirty.ratio) override them. Every node parses them, and
// its front door reports them, compactor or not.
type Config struct {
	// Interval is the time between two rounds of Run.
	Interval time.Duration

	// A partition's level-0 chunks are merged as soon as one of these is
	// reached. MinLevel0Bytes: their compressed bytes are at least this,
	// enough for a level-1 object worth its PUT. MaxLevel0Age: the oldest
	// was committed at least this long ago, however few bytes there are.
	// MinLevel0Chunks: there are more chunk rows than this, a bound on the
	// chunk index of a partition that receives many tiny chunks. It sits
	// above what steady load gives within MaxLevel0Age (a chunk per 250 ms
	// flush for 10 minutes is 2,400), so that it does not add merges and
	// PUTs there (docs/compaction.md).
	MinLevel0Bytes  int64
	MaxLevel0Age    time.Duration
	MinLevel0Chunks int
	// PartitionsPerRound bounds the partitions merged in one round.
	PartitionsPerRound int
	// TargetObjectBytes is the size of the level-1 objects written: a merge
	// takes chunks until their compressed bytes reach it.
	TargetObjectBytes int64
	// MaxMergeRawBytes bounds the decompressed bytes of one merge, which
	// are held in memory while the object is built.
	MaxMergeRawBytes int64
	// ChunkRawBytes is the decompressed size of the chunks of a level-1
	// object: a reader fetches and decodes one such chunk per range GET.
	ChunkRawBytes int64
	// WholeObjectMaxBytes: a level-0 object up to this size is read with
	// one GET of the whole object, instead of one ranged GET per chunk,
	// when other partitions merged in the same round may need its chunks.
	WholeObjectMaxBytes int64
	// ObjectCacheBytes bounds the compressed chunk bytes kept, within one
	// round, from whole objects for the partitions merged after the one
	// that fetched them; 0 reads every chunk with its own ranged GET.
	ObjectCacheBytes int64
	// KeyPrefix is put before the keys of the objects the compactor writes.
	KeyPrefix string

	// DeleteGrace is how long an object stays after its last chunk row was
	// removed, for reads that started before: longer than the longest
	// fetch.
	DeleteGrace time.Duration
	// OrphanGrace is how old, by its LastModified and the compactor's
	// clock, an object without an objects row must be before it is claimed
	// and deleted: far longer than an upload plus its commit. It only
	// picks candidates: a claim makes any later commit of the object fail
	// (retriably), so a grace too short costs produce retries, not
	// records.
	OrphanGrace time.Duration
	// OrphanTombstoneRetention is how long, by the metastore's clock, the
	// claim of a deleted orphan is kept: until then a commit of its key
	// fails. It must be far longer than any delay between an upload and
	// its commit (ingest.max-commit-delay plus ingest.commit-timeout).
	OrphanTombstoneRetention time.Duration
	// OrphanInterval is the time between two listings of the bucket for
	// orphans; 0 lists it every round.
	OrphanInterval time.Duration
	// ListPrefix limits the orphan listing to keys with this prefix. Only
	// keys ending in ".seg" are ever deleted.
	ListPrefix string

	// Retention (log.retention.ms) and RetentionBytes (log.retention.bytes)
	// are the defaults of topics with cleanup.policy delete; negative keeps
	// records forever.
	Retention      time.Duration
	RetentionBytes int64
	// DeleteRetention (log.cleaner.delete.retention.ms) is how long a
	// tombstone stays in a compacted topic.
	DeleteRetention time.Duration
	// MinCleanableDirtyRatio (log.cleaner.min.cleanable.ratio): a compacted
	// partition is cleaned when the bytes written since its last cleaning
	// are at least this share of its bytes.
	MinCleanableDirtyRatio float64
	// KeyMapMaxBytes bounds the memory of the key map of one cleaning; a
	// partition with more keys is cleaned in several passes.
	KeyMapMaxBytes int64

	// LeaseTTL is how long the compactor lease lasts without renewal. One
	// compactor works at a time; the others wait for the lease.
	LeaseTTL time.Duration
	// StatsInterval is the time between two refreshes of the gauges that
	// count objects and chunk rows (a scan of those tables); 0: every round.
	StatsInterval time.Duration
	// ProducerIDExpiration forgets idempotent producers that wrote nothing
	// for this long (Kafka's producer.id.expiration.ms): their id and their
	// sequence state on every partition, so that the metastore's producer
	// rows stay bounded. Checked once an OrphanInterval.
	ProducerIDExpiration time.Duration
	// Concurrency bounds the object store requests in flight.
	Concurrency int
	// RequestTimeout bounds one object store request.
	RequestTimeout time.Duration
}

// RegisterFlags registers the flags of Config with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Interval, "compactor.interval", 30*time.Second, "time between two compaction rounds")
	fs.Int64Var(&c.MinLevel0Bytes, "compactor.min-level0-bytes", 8<<20, "merge a partition's level-0 chunks once they hold this many compressed bytes")
	fs.DurationVar(&c.MaxLevel0Age, "compactor.max-level0-age", 10*time.Minute, "merge a partition's level-0 chunks once the oldest is this old")
	fs.IntVar(&c.MinLevel0Chunks, "compactor.min-level0-chunks", 4096, "merge a partition's level-0 chunks when it has more than this many (a bound on chunk rows)")
	fs.IntVar(&c.PartitionsPerRound, "compactor.partitions-per-round", 1000, "most partitions merged in one round")
	fs.Int64Var(&c.TargetObjectBytes, "compactor.target-object-bytes", 64<<20, "size of the level-1 objects written")
	fs.Int64Var(&c.MaxMergeRawBytes, "compactor.max-merge-raw-bytes", 256<<20, "most decompressed bytes held in memory by one merge")
	fs.Int64Var(&c.ChunkRawBytes, "compactor.chunk-raw-bytes", 1<<20, "decompressed size of the chunks of level-1 objects")
	fs.Int64Var(&c.WholeObjectMaxBytes, "compactor.whole-object-max-bytes", 16<<20, "level-0 objects up to this size are read with one GET for the chunks of every partition merged in a round")
	fs.Int64Var(&c.ObjectCacheBytes, "compactor.object-cache-bytes", 128<<20, "compressed chunk bytes of whole level-0 objects kept for the partitions merged later in the round; 0: one ranged GET per chunk")
	fs.StringVar(&c.KeyPrefix, "compactor.key-prefix", "", "prefix of the object keys the compactor writes")
	fs.DurationVar(&c.DeleteGrace, "compactor.delete-grace", 5*time.Minute, "how long an unreferenced object stays for reads in flight")
	fs.DurationVar(&c.OrphanGrace, "compactor.orphan-grace", time.Hour, "age at which an object never committed is deleted")
	fs.DurationVar(&c.OrphanTombstoneRetention, "compactor.orphan-tombstone-retention", 7*24*time.Hour, "how long the claim of a deleted orphan is kept, refusing a late commit of its object; far longer than ingest.max-commit-delay")
	fs.DurationVar(&c.OrphanInterval, "compactor.orphan-interval", time.Hour, "time between two listings of the bucket for orphaned objects")
	fs.StringVar(&c.ListPrefix, "compactor.list-prefix", "", "only keys with this prefix are listed for orphans")
	fs.DurationVar(&c.Retention, "compactor.retention", 7*24*time.Hour, "default retention.ms of topics; negative keeps records forever")
	fs.Int64Var(&c.RetentionBytes, "compactor.retention-bytes", -1, "default retention.bytes of a partition; -1 for no limit")
	fs.DurationVar(&c.DeleteRetention, "compactor.delete-retention", 24*time.Hour, "default delete.retention.ms: how long tombstones stay in compacted topics")
	fs.Float64Var(&c.MinCleanableDirtyRatio, "compactor.min-cleanable-dirty-ratio", 0.5, "default min.cleanable.dirty.ratio of compacted topics")
	fs.Int64Var(&c.KeyMapMaxBytes, "compactor.key-map-max-bytes", 64<<20, "memory for the key map of one key compaction")
	fs.DurationVar(&c.LeaseTTL, "compactor.lease-ttl", 2*time.Minute, "how long the compactor lease lasts without renewal")
	fs.DurationVar(&c.StatsInterval, "compactor.stats-interval", time.Minute, "time between two counts of objects and chunk rows for the metrics")
	fs.DurationVar(&c.ProducerIDExpiration, "compactor.producer-id-expiration", 24*time.Hour, "forget idempotent producers that wrote nothing for this long (Kafka's producer.id.expiration.ms)")
	fs.IntVar(&c.Concurrency, "compactor.concurrency", 8, "object store requests in flight")
	fs.DurationVar(&c.RequestTimeout, "compactor.request-timeout", time.Minute, "timeout of one object store request")
}

// TopicDefaults returns the defaults of topic configs these settings give
// (Retention is log.retention.ms, ...): those the compactor applies, and
// those DescribeConfigs reports.
func (c *Config) TopicDefaults() (topicconfig.Defaults, error) {
	d, err := topicconfig.NewDefaults(topicconfig.Broker{
		Retention:              c.Retention,
		RetentionBytes:         c.RetentionBytes,
		DeleteRetention:        c.DeleteRetention,
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
	})
	if err != nil {
		return d, fmt.Errorf("compactor: retention settings: %w", err)
	}
	return d, nil
}

// Defaults returns a Config with the flag defaults.
func Defaults() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Interval <= 0:
		return errors.New("compactor: interval must be positive")
	case c.MinLevel0Chunks < 0:
		return errors.New("compactor: min level-0 chunks must not be negative")
	case c.MinLevel0Bytes < 0:
		return errors.New("compactor: min level-0 bytes must not be negative")
	case c.WholeObjectMaxBytes < 0 || c.ObjectCacheBytes < 0:
		return errors.New("compactor: whole object max bytes and object cache bytes must not be negative")
	case c.MaxLevel0Age < 0:
		return errors.New("compactor: max level-0 age must not be negative")
	case c.PartitionsPerRound <= 0:
		return errors.New("compactor: partitions per round must be positive")
	case c.TargetObjectBytes <= 0:
		return errors.New("compactor: target object bytes must be positive")
	case c.MaxMergeRawBytes <= 0:
		return errors.New("compactor: max merge raw bytes must be positive")
	case c.ChunkRawBytes <= 0 || c.ChunkRawBytes > c.MaxMergeRawBytes:
		return fmt.Errorf("compactor: chunk raw bytes must be in (0, %d]", c.MaxMergeRawBytes)
	case c.ProducerIDExpiration <= 0:
		return errors.New("compactor: producer id expiration must be positive")
	case c.DeleteGrace < 0 || c.OrphanInterval < 0 || c.StatsInterval < 0:
		return errors.New("compactor: grace periods and intervals must not be negative")
	case c.OrphanGrace <= 0:
		return errors.New("compactor: orphan grace must be positive")
	case c.OrphanTombstoneRetention <= c.OrphanGrace:
		return fmt.Errorf("compactor: orphan tombstone retention (%s) must be longer than the orphan grace (%s)",
			c.OrphanTombstoneRetention, c.OrphanGrace)
	case c.DeleteRetention < 0:
		return errors.New("compactor: delete retention must not be negative")
	case c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1:
		return errors.New("compactor: min cleanable dirty ratio must be in [0, 1]")
	case c.KeyMapMaxBytes <= 0:
		return errors.New("compactor: key map max bytes must be positive")
	case c.LeaseTTL <= 0:
		return errors.New("compactor: lease ttl must be positive")
	case c.Concurrency <= 0:
		return errors.New("compactor: concurrency must be positive")
	case c.RequestTimeout <= 0:
		return errors.New("compactor: request timeout must be positive")
	}
	return nil
}
