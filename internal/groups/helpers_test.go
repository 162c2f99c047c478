package groups

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/sqlite"
)

// testConfig is the default configuration with timeouts short enough for
// tests and no initial rebalance delay.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MinSessionTimeout = time.Millisecond
	cfg.InitialRebalanceDelay = 0
	return cfg
}

// testStore is a real metastore: SQLite, or PostgreSQL for the tests of
// several coordinators sharing one.
type testStore interface {
	Store
	TopicLookup
	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metastore.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	GroupLeaseHolder(ctx context.Context, group string) (metastore.GroupLease, bool, error)
}

// env is a coordinator on a real SQLite metastore holding topics "orders"
// (4 partitions) and "payments" (2).
type env struct {
	t     testing.TB
	store testStore
	c     *Coordinator
	cfg   Config
	reg   *prometheus.Registry
}

func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	store, err := sqlite.New(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "metastore.db")}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return newEnvOn(t, store, mutate...)
}

// newEnvOn is newEnv on a given empty store.
func newEnvOn(t testing.TB, store testStore, mutate ...func(*Config)) *env {
	t.Helper()
	for name, n := range map[string]int32{"orders": 4, "payments": 2} {
		if _, err := store.CreateTopic(t.Context(), name, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, store: store, cfg: testConfig()}
	for _, m := range mutate {
		m(&e.cfg)
	}
	e.c = e.coordinator(e.store)
	return e
}

// coordinator starts a coordinator on store with e's configuration.
func (e *env) coordinator(store Store) *Coordinator {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	c, err := New(e.cfg, store, e.store, nil, e.reg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := c.Close(); err != nil {
			e.t.Errorf("close the coordinator: %v", err)
		}
	})
	return c
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// subscription is consumer protocol metadata subscribing to topics.
func subscription(topics ...string) []byte {
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	return md.AppendTo(nil)
}

type joinOpt func(*kmsg.JoinGroupRequest)

func withVersion(v int16) joinOpt { return func(r *kmsg.JoinGroupRequest) { r.Version = v } }
func withInstance(id string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.InstanceID = kmsg.StringPtr(id) }
}
func withSession(d time.Duration) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = int32(d.Milliseconds()) }
}
func withRebalance(d time.Duration) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.RebalanceTimeoutMillis = int32(d.Milliseconds()) }
}

// withProtocols sets the member's protocols, in preference order, each with
// metadata subscribing to "orders".
func withProtocols(names ...string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		r.Protocols = nil
		for _, n := range names {
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: subscription("orders")})
		}
	}
}
func withMetadata(md []byte) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		for i := range r.Protocols {
			r.Protocols[i].Metadata = md
		}
	}
}
func withType(t string) joinOpt { return func(r *kmsg.JoinGroupRequest) { r.ProtocolType = t } }

func joinReq(group, memberID string, opts ...joinOpt) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group = group
	r.MemberID = memberID
	r.SessionTimeoutMillis = 30_000
	r.RebalanceTimeoutMillis = 30_000
	r.ProtocolType = "consumer"
	withProtocols("range")(r)
	for _, o := range opts {
		o(r)
	}
	return r
}

// joinAsync sends a JoinGroup and returns where its response arrives.
func (e *env) joinAsync(req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	ctx := ctxFor(e.t)
	go func() { ch <- e.c.JoinGroup(ctx, req) }()
	return ch
}

func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("no response within 20s")
		panic("unreachable")
	}
}

// notYet fails if ch already holds a response.
func notYet[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned early: %+v", what, v)
	default:
	}
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	var w int16
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("%s: error %s, want %s", what, codeName(got), codeName(w))
	}
}

// memberID does the first JoinGroup of a dynamic member (v4+) and returns
// the member id the coordinator hands out with MEMBER_ID_REQUIRED.
func (e *env) memberID(group, clientID string) string {
	e.t.Helper()
	ctx := WithClient(ctxFor(e.t), Client{ID: clientID, Host: "/192.0.2.1"})
	resp := e.c.JoinGroup(ctx, joinReq(group, ""))
	wantCode(e.t, "first join", resp.ErrorCode, kerr.MemberIDRequired)
	if resp.MemberID == "" {
		e.t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}
	return resp.MemberID
}

// joinAlone joins a new member to an empty group and syncs it: the group
// is then Stable with this one member, the leader.
func (e *env) joinAlone(group string, opts ...joinOpt) (memberID string, generation int32) {
	e.t.Helper()
	id := e.memberID(group, "client")
	resp := recv(e.t, e.joinAsync(joinReq(group, id, opts...)))
	wantCode(e.t, "join", resp.ErrorCode, nil)
	e.syncOK(group, id, resp.Generation, map[string]string{id: "assignment-" + id})
	return id, resp.Generation
}

func syncReq(group, memberID string, generation int32, assignments map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group = group
	r.MemberID = memberID
	r.Generation = generation
	for id, a := range assignments {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	return r
}

func (e *env) syncAsync(req *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	ctx := ctxFor(e.t)
	go func() { ch <- e.c.SyncGroup(ctx, req) }()
	return ch
}

// syncOK syncs and checks the member got its assignment.
func (e *env) syncOK(group, memberID string, generation int32, assignments map[string]string) {
	e.t.Helper()
	resp := recv(e.t, e.syncAsync(syncReq(group, memberID, generation, assignments)))
	wantCode(e.t, "sync", resp.ErrorCode, nil)
	if want, ok := assignments[memberID]; ok && string(resp.MemberAssignment) != want {
		e.t.Fatalf("sync: assignment %q, want %q", resp.MemberAssignment, want)
	}
}

func (e *env) heartbeat(group, memberID string, generation int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation = group, memberID, generation
	return e.c.Heartbeat(ctxFor(e.t), r).ErrorCode
}

func (e *env) describe(group string) kmsg.DescribeGroupsResponseGroup {
	e.t.Helper()
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 5
	r.Groups = []string{group}
	resp := e.c.DescribeGroups(ctxFor(e.t), r)
	if len(resp.Groups) != 1 {
		e.t.Fatalf("DescribeGroups: %d groups", len(resp.Groups))
	}
	return resp.Groups[0]
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, what, cond)
}

// waitMembers waits until the group is in state with n members.
func (e *env) waitMembers(group string, state State, n int) {
	e.t.Helper()
	waitFor(e.t, state.String()+" group", func() bool {
		d := e.describe(group)
		return d.State == state.String() && len(d.Members) == n
	})
}

// commitReq builds an OffsetCommit v9 with topics and partitions in order.
func commitReq(group, memberID string, generation int32, offsets map[string]map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 9
	r.Group, r.MemberID, r.Generation = group, memberID, generation
	for _, topic := range slices.Sorted(maps.Keys(offsets)) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for _, p := range slices.Sorted(maps.Keys(offsets[topic])) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, offsets[topic][p]
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// commitCodes returns the error of each partition of an OffsetCommit
// response, by "topic/partition".
func commitCodes(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := map[string]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[t.Topic+"/"+itoa(p.Partition)] = p.ErrorCode
		}
	}
	return out
}

// commit commits and returns the single error code all partitions share.
func (e *env) commit(group, memberID string, generation int32, offsets map[string]map[int32]int64) int16 {
	e.t.Helper()
	codes := commitCodes(e.c.OffsetCommit(ctxFor(e.t), commitReq(group, memberID, generation, offsets)))
	var code int16 = -1
	for tp, c := range codes {
		if code != -1 && c != code {
			e.t.Fatalf("commit: mixed errors %v (at %s)", codes, tp)
		}
		code = c
	}
	return code
}

// committed returns the group's offsets from the metastore.
func (e *env) committed(group string) map[string]int64 {
	e.t.Helper()
	offs, err := e.store.FetchOffsets(ctxFor(e.t), group, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, o := range offs {
		out[o.Topic+"/"+itoa(o.Partition)] = o.Offset
	}
	return out
}

// storeCommit commits offsets straight to the metastore, as another
// coordinator would: it takes the group's lease, commits and releases it.
func (e *env) storeCommit(group string, offsets ...metastore.GroupOffset) {
	e.t.Helper()
	ctx := ctxFor(e.t)
	l, err := e.store.AcquireGroupLease(ctx, group, 99, uuid.New(), time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CommitOffsets(ctx, l, offsets); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.ReleaseGroupLease(ctx, l); err != nil {
		e.t.Fatal(err)
	}
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// The metastore's GroupStore and ConsumerGroupStore are what the
// coordinator needs.
var _ Store = interface {
	metastore.GroupStore
	metastore.ConsumerGroupStore
}(nil)

// counterValue returns the value of a counter (or gauge) with the given
// label value, or of the unlabelled one when label is "".
func counterValue(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
