package groups

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkHeartbeat measures a Heartbeat of a stable group's member: the
// most frequent group request (every few seconds per consumer).
func BenchmarkHeartbeat(b *testing.B) {
	e := newEnv(b)
	id, gen := e.joinAlone("g")
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = "g", id, gen
	ctx := ctxFor(b)
	for b.Loop() {
		if resp := e.c.Heartbeat(ctx, req); resp.ErrorCode != 0 {
			b.Fatal(codeName(resp.ErrorCode))
		}
	}
}

// BenchmarkHeartbeatParallel spreads heartbeats over 64 groups.
func BenchmarkHeartbeatParallel(b *testing.B) {
	e := newEnv(b)
	var reqs []*kmsg.HeartbeatRequest
	for i := range 64 {
		group := fmt.Sprintf("g%d", i)
		id, gen := e.joinAlone(group)
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = 4
		req.Group, req.MemberID, req.Generation = group, id, gen
		reqs = append(reqs, req)
	}
	ctx := ctxFor(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if resp := e.c.Heartbeat(ctx, reqs[i%len(reqs)]); resp.ErrorCode != 0 {
				b.Error(codeName(resp.ErrorCode))
				return
			}
			i++
		}
	})
}

// BenchmarkOffsetCommit measures an OffsetCommit of 6 partitions by a
// group member, written to a SQLite metastore.
func BenchmarkOffsetCommit(b *testing.B) {
	e := newEnv(b)
	id, gen := e.joinAlone("g")
	offsets := map[string]map[int32]int64{"orders": {0: 1, 1: 1, 2: 1, 3: 1}, "payments": {0: 1, 1: 1}}
	req := commitReq("g", id, gen, offsets)
	ctx := ctxFor(b)
	n := int64(0)
	for b.Loop() {
		n++
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				req.Topics[i].Partitions[j].Offset = n
			}
		}
		for tp, code := range commitCodes(e.c.OffsetCommit(ctx, req)) {
			if code != 0 {
				b.Fatalf("%s: %s", tp, codeName(code))
			}
		}
	}
}

// BenchmarkOffsetFetch measures an OffsetFetch of every committed offset
// of a group (6 partitions).
func BenchmarkOffsetFetch(b *testing.B) {
	e := newEnv(b)
	e.commit("g", "", -1, map[string]map[int32]int64{"orders": {0: 1, 1: 1, 2: 1, 3: 1}, "payments": {0: 1, 1: 1}})
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = "g"
	ctx := ctxFor(b)
	for b.Loop() {
		if resp := e.c.OffsetFetch(ctx, req); len(resp.Topics) != 2 {
			b.Fatalf("%d topics", len(resp.Topics))
		}
	}
}
