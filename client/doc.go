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
// in the metastore. That takes about the broker's flush interval (250 ms by
// default), so a single goroutine calling Produce in a loop is slow by
// design; use ProduceAsync, or many goroutines, for throughput. Producer[K, V]
// adds typed keys and values through a Serde.
//
// Producer defaults, and why:
//
//   - Linger 5 ms (WithLinger). A Strata broker already gathers the batches of
//     every partition and connection into one object per flush, so lingering
//     longer on the client saves no object-store requests; it only fills
//     requests better after an idle spell. Records that arrive while earlier
//     requests are in flight are batched anyway.
//   - Idempotent, acks=all, up to 5 requests in flight per broker (franz-go's
//     defaults with idempotence). Each request waits about a flush interval,
//     so pipelining is what gives a single client throughput; idempotence
//     keeps retries from duplicating or reordering records.
//   - At most 100,000 records and 64 MiB buffered (WithMaxBuffered). Records
//     stay buffered until acknowledged, about a flush interval, so the buffer
//     must hold rate × latency: 64 MiB covers 200 MB/s at 300 ms. At the
//     limit Produce blocks: backpressure, not memory growth.
//   - No compression (WithCompression). Strata compresses every partition's
//     chunk of a segment with zstd at rest, across all the batches of the
//     flush, which compresses better than per-batch codecs; compressing on
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
// Client.Admin creates, lists, describes, alters and deletes topics, and
// lists, describes (with lag), resets and deletes consumer groups.
package client
