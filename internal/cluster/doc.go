// Package cluster is Strata's membership layer: every node registers
// itself in the metastore and heartbeats, one node at a time is the active
// controller and assigns partition leaders among the live ingest nodes, and
// every node keeps a View of the cluster that the Kafka front door queries
// for Metadata, FindCoordinator and Fetch.
//
// # Liveness
//
// A node's row in the registry carries a lease end, set by the metastore's
// clock (never the node's) at each heartbeat: the node is live until then.
// Heartbeats run every Config.HeartbeatInterval (by default a third of
// Config.Lease), so a node misses two before others see it dead. Each
// process picks a random instance id at start-up. Registering a node id
// whose row is live and belongs to another instance fails
// (metastore.ErrNodeIDInUse): two processes cannot share an id. A row whose
// lease has run out is taken over. A graceful Stop deletes the row, so the
// node's partitions move on the controller's next pass.
//
// # The controller
//
// The controller is elected with a lease row in the metastore rather than
// a PostgreSQL advisory lock. The lease row works the same on PostgreSQL
// and SQLite, expires by the database clock when its holder stops renewing
// it (an advisory lock is held until PostgreSQL notices the holder's
// connection is gone, which after a network partition can take minutes),
// and carries a term that goes up with every change of holder. Every
// leader change is written in a transaction that first locks the lease row
// and checks that it is still held, unexpired, with the writer's term: a
// controller that lost its lease, however slow, cannot write. On SQLite,
// which serves one process, that process is always the controller.
//
// Each pass (every Config.ControllerInterval, and when the live node set
// changes) renews the lease and balances the leaders: with P partitions and
// N live ingest nodes every node leads P/N or P/N+1 of them. A partition
// keeps its leader unless that node is dead or leads more than its share,
// so the fewest partitions move. Every move raises the partition's leader
// epoch and records the epoch's start offset (the partition's next offset
// at the move) in the metastore's epoch history, from which
// OffsetForLeaderEpoch answers.
//
// Leadership is for locality only: any ingest node may append to any
// partition because the metastore orders commits, so a stale view or a
// dead leader costs batching and cache hits, never correctness.
//
// # The view
//
// Each node polls the metastore every Config.RefreshInterval for the live
// nodes, the controller, and a version number of the leader assignment; it
// reloads the leaders only when that version changed. Group coordinators
// are chosen by rendezvous hashing of the group name over the live nodes
// with the coordinator role, so groups spread evenly and a group moves only
// when its node dies or a node joins and wins it. Clients that announce a
// zone (client.rack in Fetch, or "zone=NAME" in the client id) are sent to
// an ingest node in their own zone for produce, and to a reader in their
// zone for fetch (KIP-392 preferred read replica).
package cluster
