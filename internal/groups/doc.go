// Package groups is Strata's consumer group coordinator: Kafka's classic
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), KIP-848's
// consumer protocol (ConsumerGroupHeartbeat, ConsumerGroupDescribe), committed
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
// # Ownership: a lease per group
//
// Config.Owner is the node's own view of the cluster, and two nodes whose
// views differ (one has not yet seen a node join or die, or was paused)
// may both believe they own a group. So a node serves a group only while
// it holds the group's lease in the metastore: one row per group naming
// the holder (node id and process instance), an epoch that rises with
// every acquisition, and an expiry judged by the metastore's clock. The
// lease is taken when a request first brings the group into memory; if
// another live instance holds it, the request is answered NOT_COORDINATOR
// and the client looks for the coordinator again. All the leases of a
// coordinator are renewed together, in one statement, every third of
// Config.Lease. A holder keeps its group while it is live, whatever its
// view says; Config.Owner only decides which node takes a group nobody
// holds. A group stops serving (NOT_COORDINATOR, and it leaves memory
// once its queued writes are done) when a renewal does not return it, or
// when the lease has run out by this node's clock (renewals failing, or
// the process paused). A group leaving memory, for these reasons or idle, releases
// its lease, and Close releases all of them, so that the next coordinator
// takes the group at once.
//
// Every metastore write of a group (offset commits, the group's row,
// OffsetDelete, DeleteGroups) names the lease and epoch it is made under,
// and the metastore checks them in the same transaction: a coordinator
// that lost its lease, even one that decided on a write before a pause and
// makes it after, writes nothing. Such a write fails with
// metastore.ErrNotGroupCoordinator; the request is answered NOT_COORDINATOR
// and the group leaves memory.
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
// transaction. A row per group: protocol type, selected protocol,
// generation, state, leader and the members of the generation (member id,
// static instance id, client id and host, session and rebalance timeouts,
// protocols with their metadata, and assignment). The row is written when
// a generation completes its join phase (CompletingRebalance, without
// assignments), when the leader's assignments arrive (Stable: the members'
// SyncGroup responses wait for this write, as Kafka waits for its group
// metadata record), when a static member is replaced without a rebalance
// (its JoinGroup response waits too) and when the group becomes Empty.
// A coordinator that takes a group over loads the row and continues the
// generation: its members' heartbeats, commits and SyncGroup succeed with
// their member ids, with session timers started afresh; a group taken
// over in CompletingRebalance waits for the leader's SyncGroup. Changes not
// written (a member leaving, a rebalance starting) are redone by the
// members, as after a Kafka coordinator failover: a departed member's
// session ends, and members told to rejoin rejoin the new coordinator.
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
//   - OffsetFetch ignores RequireStable (there are no transactions).
//   - No ACLs: DescribeGroups reports READ, DELETE and DESCRIBE as allowed.
//   - Consumer-protocol (KIP-848) groups are served too
//     (consumer_group.go, consumer_group_state.go); a group is of one
//     kind at a time, and an empty group changes kind when a member of
//     the other kind joins. KIP-848's online migration of a group with
//     members from one kind to the other is not implemented: the other
//     kind is refused (INCONSISTENT_GROUP_PROTOCOL for JoinGroup,
//     GROUP_ID_NOT_FOUND for ConsumerGroupHeartbeat).
//   - The coordinator of a group is its lease holder, and a group nobody
//     holds is taken by the node rendezvous hashing over live nodes names,
//     not by the leader of a __consumer_offsets partition; it is fenced by
//     the group's lease rather than by a partition leader epoch. While one
//     node still holds a group's lease, another answers NOT_COORDINATOR;
//     the client retries until the lease is released (a clean shutdown,
//     idleness) or has run out (a crash: up to a lease).
//   - Group rows record every protocol of a member with its metadata, where
//     Kafka's record keeps the selected protocol's only.
package groups
