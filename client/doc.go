// Package client is the Go SDK of Strata, a Kafka-compatible log service
// whose records live in object storage. It is a thin layer over franz-go
// (github.com/twmb/franz-go): the wire protocol, batching, retries and group
// membership are franz-go's; this package picks defaults that suit Strata,
// adds typed producers and consumers, a consumer loop that commits only what
// was processed, and errors that say what to do. It works with any Kafka
// broker.
//
// # Connecting
//
// New connects and checks that a broker answers. Without WithBrokers it uses
// $STRATA_BROKERS (comma-separated host:port), else 127.0.0.1:9092, where
// `strata dev` listens. When no broker answers, the error matches
// ErrBrokerUnreachable and names the addresses tried.
//
// # Producing
//
// Client.Produce returns once a record is durable: on Strata, once the
// segment object holding it is in object storage and its offset is committed
// in the metastore. A broker seals a segment as soon as no upload is in
// flight and its PUT budget allows (4 PUTs a second by default, none on
// `strata dev`), so Produce takes from a few milliseconds on strata dev to
// one budget interval (250 ms) plus a PUT and a commit under load on S3. A
// single goroutine calling Produce in a loop is slow there by design; use
// ProduceAsync, or many goroutines, for throughput. Producer[K, V] adds
// typed keys and values through a Serde.
//
// Producer defaults, and why:
//
//   - Linger 50 ms (WithLinger), a fifth of the default budget's 250 ms. A
//     client keeps at most 5 produce requests in flight per broker; with a
//     short linger it sends all 5 in the first few milliseconds of a
//     broker's interval, they all wait in the same segment, and records
//     produced later in the interval wait in the client for their ack and
//     then a whole interval more in the broker: a produce p50 of about 1.5
//     intervals (docs/benchmarks.md measured 346-358 ms with 5 and 10 ms).
//     Spread over the interval, 5 requests a linger apart keep the client
//     sending while the broker gathers: p50 163-206 ms, p99 under 500 ms at
//     1 to 50 MB/s. Produce (synchronous) does not linger. Against a broker
//     with another budget, use a fifth of 1/budget; on strata dev, where
//     nothing waits, WithLinger(0) gives ProduceAsync the lowest latency.
//   - Idempotent, acks=all, up to 5 requests in flight per broker (franz-go's
//     defaults with idempotence). Each request may wait up to a budget
//     interval, so pipelining is what gives a single client throughput;
//     idempotence keeps retries from duplicating or reordering records.
//   - At most 100,000 records and 64 MiB buffered (WithMaxBuffered). Records
//     stay buffered until acknowledged, up to about two budget intervals, so the buffer
//     must hold rate × latency: 64 MiB covers 200 MB/s at 300 ms. At the
//     limit Produce blocks: backpressure, not memory growth.
//   - No compression (WithCompression). Strata compresses every partition's
//     chunk of a segment with zstd at rest, across all the batches of the
//     segment, which compresses better than per-batch codecs; compressing on
//     the client too spends CPU twice for little gain. Turn it on when the
//     link to the brokers is slow or billed per byte.
//   - Topics are created on first produce when the broker allows it (strata
//     dev does), as with the Java client.
//
// # Consuming
//
// A Consumer[K, V] in a group shares its topics' partitions with the other
// members. Run calls a handler per record and commits a record's offset only
// after the handler returned nil for it: at-least-once delivery. Cancelling
// Run's context stops it gracefully: it commits what was processed, leaves the
// group so that other members take over at once, and returns nil. Without a
// group a consumer reads partitions it assigns itself and can Seek to the
// beginning, the end, an offset or a time.
//
// RunBatches hands the handler the consecutive records of one partition at a
// time instead, for handlers that write in bulk. PartitionConcurrency(n)
// handles up to n partitions at once, each in offset order. What happens to
// a record the handler fails on, or that does not decode, is the consumer's
// ErrorPolicy: StopOnError (the default: Run returns the error and the record
// is delivered again), SkipOnError (logged and committed past), or
// DeadLetter(topic) (written to a dead-letter topic with headers naming its
// origin and the error, then committed past).
//
// # Zones
//
// WithZone names the client's zone. It is sent as client.rack and as a
// "zone=NAME" element of the client.id ("strata-go,zone=eu-west-1a"), so
// brokers can give the client partition leaders in its own zone; unkeyed
// records prefer partitions led from that zone, and group members prefer
// such partitions when the balance allows.
//
// # Admin
//
// Client.Admin creates, lists, describes, alters and deletes topics, adds
// partitions and deletes records; lists, describes (with lag), resets and
// deletes consumer groups and their offsets; and describes the cluster.
package client
