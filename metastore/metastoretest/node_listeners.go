package metastoretest

import (
	"testing"

	"github.com/stratalog/strata/metastore"
)

// testClusterNodeListeners checks that a node's per-listener advertised
// addresses are kept as registered, and replaced by a re-registration.
func testClusterNodeListeners(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	n := node(4, "", "ingest")
	n.Listeners = "PLAINTEXT://node-4.test:9092,SASL_SSL://node-4.example.com:9093"
	plain := node(5, "", "reader") // no listeners: host and port only
	register(t, cs, n, longLease)
	register(t, cs, plain, longLease)
	st := clusterState(t, cs)
	if len(st.Nodes) != 2 || st.Nodes[0].Listeners != n.Listeners || st.Nodes[1].Listeners != "" {
		t.Fatalf("nodes %+v; want node 4 with listeners %q and node 5 with none", st.Nodes, n.Listeners)
	}
	n.Listeners = "SSL://node-4.example.com:9094"
	register(t, cs, n, longLease)
	if got := clusterState(t, cs).Nodes[0].Listeners; got != n.Listeners {
		t.Fatalf("after re-registering, listeners %q, want %q", got, n.Listeners)
	}
}
