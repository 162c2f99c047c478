package kafka

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"
)

// Config configures the Kafka front door.
type Config struct {
	// ListenAddress is the host:port the Kafka listener binds.
	ListenAddress string `yaml:"listen_address"`
	// AdvertisedAddress is the host:port clients are told to connect to.
	// Empty means the listener's own address.
	AdvertisedAddress string `yaml:"advertised_address"`
	// NodeID is this node's broker id in Metadata responses.
	NodeID int32 `yaml:"node_id"`
	// Rack is this node's rack (zone); empty means none.
	Rack string `yaml:"rack"`
	// ClusterID is reported in Metadata and DescribeCluster responses.
	ClusterID string `yaml:"cluster_id"`
	// MaxRequestBytes is the largest request frame accepted, as Kafka's
	// socket.request.max.bytes. A larger frame closes the connection.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics requests that ask for -1, as Kafka's num.partitions.
	DefaultPartitions int32 `yaml:"default_partitions"`
	// MaxPartitionsPerTopic bounds the partition count CreateTopics and
	// CreatePartitions accept.
	MaxPartitionsPerTopic int32 `yaml:"max_partitions_per_topic"`
	// AutoCreateTopics enables creating unknown topics on Metadata requests,
	// as Kafka's auto.create.topics.enable.
	AutoCreateTopics bool `yaml:"auto_create_topics"`
	// IdleTimeout closes connections without requests for this long, as
	// Kafka's connections.max.idle.ms. Zero disables it.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxInFlightRequests bounds the requests of one connection that are
	// read but not yet answered; reading pauses at the bound.
	MaxInFlightRequests int `yaml:"max_inflight_requests"`
	// TopicCacheTTL is how long a topic's id, configs and partitions are
	// used by Produce, Fetch and Metadata before they are read again. This
	// node's own topic changes take effect at once; other nodes' after at
	// most this long. Zero reads the metastore on every request.
	TopicCacheTTL time.Duration `yaml:"topic_cache_ttl"`
	// FetchMaxWait caps the time a Fetch waits for MinBytes, whatever
	// MaxWaitMillis the client asks for. Zero means no cap.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
}

// Defaults of Config, as RegisterFlags sets them.
const (
	DefaultListenAddress       = ":9092"
	DefaultClusterID           = "strata"
	DefaultMaxRequestBytes     = 100 << 20
	DefaultDefaultPartitions   = 3
	DefaultMaxPartitions       = 10000
	DefaultIdleTimeout         = 10 * time.Minute
	DefaultMaxInFlightRequests = 16
	DefaultTopicCacheTTL       = time.Second
	DefaultFetchMaxWait        = 30 * time.Second
)

// RegisterFlags registers the flags of c on fs with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddress, "kafka.listen-address", DefaultListenAddress, "host:port of the Kafka listener")
	fs.StringVar(&c.AdvertisedAddress, "kafka.advertised-address", "", "host:port advertised to clients (default: the listener's address)")
	fs.Var(newInt32Value(&c.NodeID, 0), "kafka.node-id", "broker id of this node")
	fs.StringVar(&c.Rack, "kafka.rack", "", "rack (zone) of this node reported to clients")
	fs.StringVar(&c.ClusterID, "kafka.cluster-id", DefaultClusterID, "cluster id reported to clients")
	fs.IntVar(&c.MaxRequestBytes, "kafka.max-request-bytes", DefaultMaxRequestBytes, "largest request accepted, in bytes")
	fs.Var(newInt32Value(&c.DefaultPartitions, DefaultDefaultPartitions), "kafka.default-partitions", "partitions of auto-created topics and of CreateTopics asking for -1")
	fs.Var(newInt32Value(&c.MaxPartitionsPerTopic, DefaultMaxPartitions), "kafka.max-partitions-per-topic", "most partitions a topic may have")
	fs.BoolVar(&c.AutoCreateTopics, "kafka.auto-create-topics", true, "create unknown topics when clients ask for their metadata")
	fs.DurationVar(&c.IdleTimeout, "kafka.idle-timeout", DefaultIdleTimeout, "close connections idle for this long (0: never)")
	fs.IntVar(&c.MaxInFlightRequests, "kafka.max-inflight-requests", DefaultMaxInFlightRequests, "requests of one connection read ahead of their responses")
	fs.DurationVar(&c.TopicCacheTTL, "kafka.topic-cache-ttl", DefaultTopicCacheTTL, "how long topic ids, configs and partitions are cached for produce and fetch (0: no cache)")
	fs.DurationVar(&c.FetchMaxWait, "kafka.fetch-max-wait", DefaultFetchMaxWait, "longest a fetch waits for data, whatever the client asks (0: no cap)")
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return fmt.Errorf("kafka: listen address %q: %w", c.ListenAddress, err)
	}
	if c.AdvertisedAddress != "" {
		if _, _, err := splitAdvertised(c.AdvertisedAddress); err != nil {
			return fmt.Errorf("kafka: advertised address %q: %w", c.AdvertisedAddress, err)
		}
	}
	if c.NodeID < 0 {
		return fmt.Errorf("kafka: node id %d is negative", c.NodeID)
	}
	if c.ClusterID == "" {
		return errors.New("kafka: cluster id is empty")
	}
	if c.MaxRequestBytes < 1<<10 || c.MaxRequestBytes > math.MaxInt32 {
		return fmt.Errorf("kafka: max request bytes %d out of range [1024, %d]", c.MaxRequestBytes, math.MaxInt32)
	}
	if c.DefaultPartitions < 1 {
		return fmt.Errorf("kafka: default partitions %d is below 1", c.DefaultPartitions)
	}
	if c.MaxPartitionsPerTopic < c.DefaultPartitions {
		return fmt.Errorf("kafka: max partitions per topic %d is below the default partitions %d", c.MaxPartitionsPerTopic, c.DefaultPartitions)
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("kafka: idle timeout %s is negative", c.IdleTimeout)
	}
	if c.MaxInFlightRequests < 1 {
		return fmt.Errorf("kafka: max in-flight requests %d is below 1", c.MaxInFlightRequests)
	}
	if c.TopicCacheTTL < 0 {
		return fmt.Errorf("kafka: topic cache ttl %s is negative", c.TopicCacheTTL)
	}
	if c.FetchMaxWait < 0 {
		return fmt.Errorf("kafka: fetch max wait %s is negative", c.FetchMaxWait)
	}
	return nil
}

// splitAdvertised splits an advertised host:port; the host must be one a
// client can dial.
func splitAdvertised(addr string) (string, int32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", 0, errors.New("unspecified host")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("invalid port %q", portStr)
	}
	return host, int32(port), nil
}

// int32Value is a flag.Value for an int32 field.
type int32Value struct{ p *int32 }

func newInt32Value(p *int32, def int32) int32Value {
	*p = def
	return int32Value{p}
}

func (v int32Value) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*v.p), 10)
}

func (v int32Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return err
	}
	*v.p = int32(n)
	return nil
}
