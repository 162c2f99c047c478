package reader

import (
	"errors"
	"flag"
	"time"
)

// Config holds the fetch path's settings.
type Config struct {
	// CacheBytes bounds the memory held by the cache of decoded chunks and
	// of recently fetched whole objects.
	CacheBytes int64
	// WholeObjectMaxBytes: objects up to this size are fetched whole with
	// one GET, so that one request serves every partition in the object;
	// larger objects are read by a ranged GET of the chunk. 0 always uses
	// ranged GETs.
	WholeObjectMaxBytes int64
	// ObjectTTL is how long a whole compressed object stays in the cache
	// after it was fetched or committed locally. Its chunks are decoded
	// when first read and then cached on their own.
	ObjectTTL time.Duration
	// MaxChunkRawBytes refuses chunks that decode to more than this.
	MaxChunkRawBytes int64
	// MetadataTTL is how long a partition's high watermark, log start
	// offset and leader epoch are used before they are read again from the
	// metastore. Local commits raise the cached high watermark at once.
	MetadataTTL time.Duration
	// PollInterval is how often a long poll re-reads the high watermarks
	// of its partitions, in case a wake-up was missed.
	PollInterval time.Duration
	// ChunkLookupLimit is how many chunk rows one metastore lookup returns.
	ChunkLookupLimit int
	// FetchTimeout bounds one object GET or metastore lookup made on behalf
	// of possibly several readers.
	FetchTimeout time.Duration
}

// RegisterFlags registers the flags of Config with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.CacheBytes, "reader.cache-bytes", 256<<20, "bytes of decoded chunks and fetched objects kept in memory")
	fs.Int64Var(&c.WholeObjectMaxBytes, "reader.whole-object-max-bytes", 16<<20, "objects up to this size are fetched with one GET; larger ones by ranged GETs of a chunk")
	fs.DurationVar(&c.ObjectTTL, "reader.object-ttl", 10*time.Second, "how long a whole fetched object is kept for the other partitions it holds")
	fs.Int64Var(&c.MaxChunkRawBytes, "reader.max-chunk-raw-bytes", 64<<20, "largest decoded chunk accepted")
	fs.DurationVar(&c.MetadataTTL, "reader.metadata-ttl", 200*time.Millisecond, "how long a cached high watermark is used before it is read again")
	fs.DurationVar(&c.PollInterval, "reader.poll-interval", 250*time.Millisecond, "how often a long poll re-reads high watermarks")
	fs.IntVar(&c.ChunkLookupLimit, "reader.chunk-lookup-limit", 32, "chunk rows read from the metastore per lookup")
	fs.DurationVar(&c.FetchTimeout, "reader.fetch-timeout", 30*time.Second, "timeout of one object GET or metastore lookup")
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
	case c.CacheBytes <= 0:
		return errors.New("reader: cache bytes must be positive")
	case c.WholeObjectMaxBytes < 0:
		return errors.New("reader: whole object max bytes must not be negative")
	case c.ObjectTTL < 0:
		return errors.New("reader: object ttl must not be negative")
	case c.MaxChunkRawBytes <= 0:
		return errors.New("reader: max chunk raw bytes must be positive")
	case c.MetadataTTL < 0:
		return errors.New("reader: metadata ttl must not be negative")
	case c.PollInterval <= 0:
		return errors.New("reader: poll interval must be positive")
	case c.ChunkLookupLimit <= 0:
		return errors.New("reader: chunk lookup limit must be positive")
	case c.FetchTimeout <= 0:
		return errors.New("reader: fetch timeout must be positive")
	}
	return nil
}
