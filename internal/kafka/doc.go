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
// # APIs
//
// Each API is served by a handler in a file named after its key
// (03_metadata.go, 18_api_versions.go, ...) that registers itself with the
// versions it serves, capped at what kmsg can decode; ApiVersions answers
// from those registrations. Metastore errors become Kafka error codes in one
// place (errors.go).
//
// Choices where Kafka's behaviour does not carry over:
//
//   - This node is reported as the only broker, the controller, the group
//     coordinator, and the leader and only replica of every partition
//     (leader epochs come from the metastore). Data durability comes from
//     the object store, so replication factors are accepted and ignored and
//     topics report one replica.
//   - Topics are created synchronously, so an auto-created topic's
//     partitions are in the very Metadata response that created it.
//   - Transactions are not supported: FindCoordinator for a transactional id
//     and InitProducerId with one answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
//     which producers treat as fatal. Idempotent producers get a new
//     producer id, epoch 0, on every InitProducerId.
//   - Broker configs are static (read-only in DescribeConfigs; altering them
//     is INVALID_REQUEST). Topic configs are checked against the list of
//     known Kafka topic configs and their value rules; an unknown key is
//     INVALID_CONFIG.
//   - No ACLs: when asked, every operation is reported as authorized.
package kafka
