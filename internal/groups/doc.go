// Package groups is Strata's consumer group coordinator: Kafka's classic
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed
// offsets (OffsetCommit, OffsetFetch, OffsetDelete) and group administration
// (DescribeGroups, ListGroups, DeleteGroups).
//
// # API
//
// Each Coordinator method takes the decoded kmsg request and returns its
// response, with the response version set from the request. JoinGroup and
// SyncGroup block as in Kafka: JoinGroup until the rebalance completes,
// SyncGroup until the leader has sent the assignments; OffsetCommit until the
// offsets are durable. Callers serve them off the connection's read loop.
// WithClient attaches the request's client id and address, which JoinGroup
// records for DescribeGroups. Config.Owner says which groups this node
// coordinates; the others get NOT_COORDINATOR.
//
// # Concurrency
//
// Every group's membership is a state machine owned by one goroutine, which
// reads closures from the group's channel; nothing else touches that state.
// The group's metastore writes (offset commits, deletions, its row) run in
// order on a second goroutine, so a slow write never delays heartbeats, and
// a response that depends on a write is sent once the write is done.
// Committed offsets are read straight from the metastore. An empty group
// leaves memory after a few idle minutes (at once if it does not exist);
// everything it needs is in the metastore. Lock order: Coordinator.mu is the
// only lock; it is never held while sending to a group or waiting for one.
//
// # What is persisted
//
// Committed offsets, per (group, topic name, partition): offset, leader
// epoch, metadata and commit time; each OffsetCommit request is one
// transaction. A row per group: protocol type, selected protocol, generation
// and state, written at each generation and when the group becomes Stable,
// so that ListGroups and DescribeGroups know groups that only hold offsets
// and generations keep increasing across coordinator moves. Members, static
// instance ids and assignments live in memory only: after the coordinator
// moves, members get UNKNOWN_MEMBER_ID and rejoin.
//
// # Timeouts
//
//   - Session timeout (per member, bounded by Config.MinSessionTimeout and
//     MaxSessionTimeout): a member neither heartbeating nor committing for
//     that long is removed and the group rebalances. The clock does not run
//     while the member waits in JoinGroup or SyncGroup.
//   - Rebalance timeout (the longest of the members'): members that have not
//     rejoined when it ends are removed (static members stay until their
//     session ends); members that have not sent SyncGroup within it after
//     the join phase are removed and the group rebalances again.
//   - A member id handed out with MEMBER_ID_REQUIRED is held for the
//     member's session timeout; the join phase waits for it meanwhile.
//   - Config.InitialRebalanceDelay: the first rebalance of an empty group
//     waits that long for more members, extended by each new member up to
//     the rebalance timeout.
//
// # Differences from Kafka
//
//   - Offsets do not expire (offsets.retention.minutes); the retention time
//     of OffsetCommit v2-v4 is ignored. Offsets of a deleted topic are
//     deleted with it.
//   - OffsetFetch ignores RequireStable (there are no transactions) and the
//     KIP-848 member id and epoch of v9+.
//   - No ACLs: DescribeGroups reports READ, DELETE and DESCRIBE as allowed.
//   - Only the classic protocol; ListGroups reports type "classic".
package groups
