package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv/certs"
)

// TestListenersAcrossNodes runs two strata serve nodes, each with a
// PLAINTEXT and an SSL listener: a client of either node is told every
// node's address on the listener it connected on, in Metadata and in
// FindCoordinator, so that an SSL client is never sent to a plaintext
// port of another node.
func TestListenersAcrossNodes(t *testing.T) {
	data := newServeData(t)
	dir := t.TempDir()
	ca := certs.NewCA(t, dir, "cluster-ca")
	server := ca.Server(t, dir, "server")
	type node struct{ plain, ssl string }
	var nodes []node
	for id := range 2 {
		n := node{plain: freeAddr(t), ssl: freeAddr(t)}
		startStrata(t, modeServe, strataOpts{Shared: data, InProcess: true, Args: []string{
			"-kafka.node-id", strconv.Itoa(id),
			"-cluster.lease", testLease.String(), "-cluster.refresh-interval", "100ms",
			"-kafka.listeners", "PLAINTEXT://" + n.plain + ",SSL://" + n.ssl,
			"-kafka.tls.cert-file", server.CertFile, "-kafka.tls.key-file", server.KeyFile,
		}})
		nodes = append(nodes, n)
	}
	tlsOpt := (&secureNode{ca: ca}).tlsOpt()
	want := map[string][]string{
		"PLAINTEXT": {nodes[0].plain, nodes[1].plain},
		"SSL":       {nodes[0].ssl, nodes[1].ssl},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, n := range nodes {
		for _, l := range []struct {
			name string
			addr string
			opts []kgo.Opt
		}{{"PLAINTEXT", n.plain, nil}, {"SSL", n.ssl, []kgo.Opt{tlsOpt}}} {
			cl := newClient(t, l.addr, l.opts...)
			var got []string
			waitFor(t, 20*time.Second, fmt.Sprintf("node %d to list both nodes on %s", i, l.name), func() bool {
				req := kmsg.NewPtrMetadataRequest()
				req.Topics = []kmsg.MetadataRequestTopic{}
				resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0]) // node i itself
				if err != nil {
					return false
				}
				got = got[:0]
				for _, b := range resp.Brokers {
					got = append(got, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
				}
				slices.Sort(got)
				return len(got) == 2
			})
			exp := slices.Clone(want[l.name])
			slices.Sort(exp)
			if !slices.Equal(got, exp) {
				t.Errorf("node %d, %s: Metadata lists %v, want %v", i, l.name, got, exp)
			}
			// Every group's coordinator is answered on the same listener.
			for g := range 8 {
				req := kmsg.NewPtrFindCoordinatorRequest()
				key := fmt.Sprintf("group-%d", g)
				req.CoordinatorKey, req.CoordinatorKeys = key, []string{key}
				resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
				if err != nil || len(resp.Coordinators) != 1 {
					t.Fatalf("node %d, %s: FindCoordinator: %v", i, l.name, err)
				}
				c := resp.Coordinators[0]
				addr := net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
				if c.ErrorCode != 0 || !slices.Contains(want[l.name], addr) {
					t.Errorf("node %d, %s: coordinator of %s at %s (error %d), want one of %v", i, l.name, key, addr, c.ErrorCode, want[l.name])
				}
			}
		}
	}
}
