// Package kafka is Strata's Kafka front door: the listener, request framing,
// version negotiation and per-API dispatch shared by every role.
//
// # Connections
//
// Each request frame is a 4-byte length, a request header (API key,
// version, correlation id, client id, and tagged fields for flexible
// versions) and the body, decoded with franz-go's kmsg. A frame above
// Config.MaxRequestBytes, a frame that does not decode, an unknown API key
// or an unsupported version closes that connection (after the responses to
// the requests before it are written); other connections are not affected.
// An unknown key or version is refused from the frame's first bytes,
// before its body is read.
// The exception is ApiVersions at a version we do not serve: as Kafka does
// (KIP-511), it is answered with a v0 UNSUPPORTED_VERSION response listing
// the ApiVersions range we serve, and the connection stays open.
//
// Requests of one connection are decoded and handed to their handlers one
// at a time, in the order the client sent them. A handler answers at once or
// returns the rest of its work (Reply.Later: a commit wait, a long poll),
// which runs concurrently with the requests that follow; responses are
// written strictly in request order. Up to Config.MaxInFlightRequests
// requests per connection may wait for their responses; reading pauses
// beyond that. A handler that panics closes its connection only.
//
// # Limits
//
// A client must not be able to take the node's memory, or its metastore,
// from the others; each limit is answered with an error or a closed
// connection, never a crash. Each but the frame size can be turned off
// with 0 (a request read timeout of 0 leaves the idle timeout).
//
//   - Connections: beyond Config.MaxConnections on the node, or
//     Config.MaxConnectionsPerIP from one client address (Kafka's
//     max.connections and max.connections.per.ip), a new connection is
//     closed at once and counted in strata_kafka_connections_rejected_total.
//     A connection that never sends costs a goroutine and a few KiB; its
//     write goroutine starts with its first request.
//   - Connection creation rates (KIP-612, conn_limits.go): beyond
//     Config.MaxConnectionCreationRate new connections a second, the
//     listeners wait before accepting; beyond
//     Config.ConnectionCreationRatePerIP from one address, a new
//     connection is refused and closed after its throttle time.
//   - Request memory: requests being read and handled are charged to a
//     node-wide budget, Config.MaxQueuedRequestBytes (Kafka's
//     queued.max.request.bytes), when their length and header have
//     arrived and before their buffer is allocated; a connection whose next
//     request does not fit stops reading until it does, and one that could
//     never fit is closed. The charge covers what the request decodes to,
//     not only its frame (limits.go explains why and how much), and one
//     client address holds at most half the budget, or one request.
//   - Stalled requests: once a request's length has arrived, the rest must
//     arrive within Config.RequestReadTimeout, or the connection is closed
//     (strata_kafka_requests_total{result="stalled"}) and its charge given
//     back; the idle timeout applies only between requests.
//   - Work per request: a Metadata request looks up at most
//     Config.MaxMetadataLookups topics the topic cache cannot answer, and
//     creates at most Config.MaxAutoCreateTopics; the rest are
//     LEADER_NOT_AVAILABLE, which clients retry. A request naming many
//     names the cache does not know checks them against one listing of
//     every topic. CreateTopics, DeleteTopics and CreatePartitions change at
//     most Config.MaxTopicsPerRequest topics; the rest are
//     THROTTLING_QUOTA_EXCEEDED (INVALID_REQUEST before the versions that
//     know it).
//   - Array counts: kmsg refuses a count that the bytes left could not hold
//     before allocating anything; what it allocates for counts they could
//     hold is within the request's charge (TestDecodeAmplificationBounded).
//
// # APIs
//
// Each API is served by a handler in a file named after its key
// (03_metadata.go, 18_api_versions.go, ...) that registers itself with the
// versions it serves, capped at what kmsg can decode; ApiVersions answers
// from those registrations. Metastore, produce-path and reader errors become
// Kafka error codes in one place (errors.go).
//
// # The data path
//
// Produce (v0-v13) hands record batches to the produce path (Deps.Ingest),
// and Fetch (v0-v18), ListOffsets (v0-v11) and OffsetForLeaderEpoch
// (v0-v4) read through the reader (Deps.Reader); DeleteRecords (v0-v2)
// needs only the metastore. The consumer-group APIs (OffsetCommit,
// OffsetFetch, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups,
// ListGroups, DeleteGroups, OffsetDelete) go to Deps.Groups; a connection's
// group requests reach the coordinator one at a time, in order. A server built without Ingest or Reader
// neither serves nor advertises the APIs that need them: a client asking
// for one anyway has its connection closed, as for any unknown API.
//
//   - Only v2 record batches (magic 2) are stored: Produce v3+ and Fetch
//     v4+. Produce v0-v2 and Fetch v0-v3 are advertised all the same,
//     because librdkafka enables gzip, snappy and lz4 only for brokers whose
//     ranges overlap them, and answered UNSUPPORTED_FOR_MESSAGE_FORMAT on
//     every partition; magic 0 or 1 batches in a newer request get the same
//     error. Keyless records on a topic with cleanup.policy=compact are
//     INVALID_RECORD.
//   - Each partition of a Produce request succeeds or fails on its own. The
//     batches are handed to the produce path while the request is read, so
//     a connection's requests keep their order in every partition; the wait
//     for the commit runs concurrently with the requests that follow.
//     acks=0 gets no response (even when a partition fails, where Kafka
//     would close the connection), and its records are still committed.
//     ThrottleMillis is the time the request waited for the produce path's
//     memory budget.
//   - For topics with message.timestamp.type=LogAppendTime, the Produce
//     response carries the commit time, but the stored batches keep the
//     producer's timestamps (CreateTime): consumers and ListOffsets see
//     those, not the append time.
//   - A request may carry several batches per partition (Kafka allows only
//     one from Produce v3); they are stored in order.
//   - Fetch returns at least one whole batch from the first partition with
//     data, then honours the partition and response limits; a fetch offset
//     inside a batch returns the whole batch. It waits for MinBytes off the
//     connection's read loop, up to MaxWaitMillis capped by
//     Config.FetchMaxWait, woken by commits.
//   - Fetch sessions are not kept: every fetch is answered in full with
//     session id 0 (clients then stop asking for sessions), and an
//     incremental fetch is FETCH_SESSION_ID_NOT_FOUND.
//   - Without transactions, read_committed reads what read_uncommitted
//     reads and the last stable offset is the high watermark.
//   - Leader epochs come from the metastore; a partition's epoch changes
//     only when its leadership moves. A client's CurrentLeaderEpoch above
//     ours is UNKNOWN_LEADER_EPOCH (retriable), below it
//     FENCED_LEADER_EPOCH. OffsetForLeaderEpoch answers from the epoch
//     history the controller records at each leader move: the end offset of
//     an older epoch is the start of the next, the current epoch ends at the
//     high watermark. The log is never truncated.
//   - ListOffsets -3 (max timestamp) is found from the chunk index's
//     per-chunk largest timestamps, then the record through the reader; see
//     02_list_offsets.go for its limits.
//   - After DeleteRecords, reads below the new log start offset fail at
//     once for ListOffsets; a Fetch served from the reader's cached view of
//     the partition sees it within the reader's metadata TTL.
//
// Topics are looked up through a cache (topic_cache.go): name and id to the
// topic, its partitions (with leader epochs and log start offsets) and
// configs, kept for Config.TopicCacheTTL. This node's CreateTopics,
// DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs and
// DeleteRecords invalidate the topic at once; other nodes' changes are seen
// within the TTL, or sooner when a request names a partition or a leader
// epoch the cached copy does not know. Names and ids the metastore does not
// know are cached for the TTL as well (a topic created on this node is
// found at once). While the metastore fails, topics are served from their
// expired entries.
//
// A failure of the metastore or the object store is answered, per API,
// with an error code that the clients retry (errors.go): a database restart
// makes producers and consumers wait, not fail.
//
// Choices where Kafka's behaviour does not carry over:
//
//   - Brokers, the controller, partition leaders and group coordinators come
//     from the cluster view (Deps.Cluster, see internal/cluster); without
//     one this node is the whole cluster. Each partition reports its leader
//     as its only replica: durability comes from the object store, so
//     replication factors are accepted and ignored.
//   - Topics are created synchronously, so an auto-created topic's
//     partitions are in the very Metadata response that created it.
//   - Transactions are Kafka's classic protocol (transaction version 1),
//     coordinated by Deps.Txn (internal/txn, docs/transactions.md):
//     FindCoordinator TRANSACTION, InitProducerId with a transactional id,
//     AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn (capped
//     at v4, below KIP-890's transaction version 2), DescribeTransactions,
//     ListTransactions, and OffsetFetch require_stable. A transactional
//     Produce may write only the partitions of its open transaction. A
//     node without a transaction coordinator refuses transactional ids
//     with TRANSACTIONAL_ID_AUTHORIZATION_FAILED. Idempotent producers get
//     a new producer id, epoch 0, on every InitProducerId.
//   - Broker configs are static (read-only in DescribeConfigs; altering them
//     is INVALID_REQUEST). Topic configs are checked against the list of
//     known Kafka topic configs and their value rules
//     (internal/topicconfig); an unknown key is INVALID_CONFIG. The
//     defaults of retention.ms, retention.bytes, delete.retention.ms and
//     min.cleanable.dirty.ratio are the node's compactor flags, reported
//     as the broker's static configs.
//   - Authorization is Kafka's (authorize.go, docs/authorization.md),
//     with the ACLs of Deps.ACLs; a transactional id needs Write for
//     InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
//     EndTxn and Produce, and Describe for FindCoordinator,
//     DescribeTransactions and ListTransactions, as in Kafka.
package kafka
