package groups

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file is the state machine of consumer-protocol (KIP-848) groups: the
// group epoch, the target assignment, and each member's epoch and
// reconciliation toward its target. It is pure: no goroutines, no clock
// (every transition takes now), no metastore. The group's goroutine runs it
// (consumer_group.go) and persists it.
//
// Reconciliation follows KIP-848: when the target assignment moves on, a
// member first gives up the partitions it must lose (its epoch stays, the
// heartbeat response's assignment leaves them out), and only once a
// heartbeat reports them released does the member take the target's
// epoch and the partitions of its target that no other member still owns.
// A partition is therefore never owned by two members: one is added to a
// member only when no other member has it assigned or pending revocation.

// Member states, as Kafka's ConsumerGroupDescribe does not show them but
// its reconciliation names them.
const (
	cgStable     = "stable"                // owns its whole target, at the assignment epoch
	cgUnrevoked  = "unrevoked_partitions"  // must release partitions first
	cgUnreleased = "unreleased_partitions" // at the assignment epoch, waiting for partitions others hold
)

// Group states, as ConsumerGroupDescribe and ListGroups name them.
const (
	cgStateEmpty       = "Empty"
	cgStateAssigning   = "Assigning"
	cgStateReconciling = "Reconciling"
	cgStateStable      = "Stable"
)

// Server-side assignors; uniform is the default, as in Kafka.
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

// assignment is a set of partitions by topic id, each list sorted.
type assignment map[uuid.UUID][]int32

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for t, ps := range a {
		out[t] = slices.Clone(ps)
	}
	return out
}

func (a assignment) has(t uuid.UUID, p int32) bool {
	_, ok := slices.BinarySearch(a[t], p)
	return ok
}

func (a assignment) add(t uuid.UUID, p int32) {
	ps := a[t]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		a[t] = slices.Insert(ps, i, p)
	}
}

func (a assignment) size() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// intersect returns the partitions of a also in b.
func (a assignment) intersect(b assignment) assignment {
	out := assignment{}
	for t, ps := range a {
		for _, p := range ps {
			if b.has(t, p) {
				out.add(t, p)
			}
		}
	}
	return out
}

// minus returns the partitions of a not in b.
func (a assignment) minus(b assignment) assignment {
	out := assignment{}
	for t, ps := range a {
		for _, p := range ps {
			if !b.has(t, p) {
				out.add(t, p)
			}
		}
	}
	return out
}

func (a assignment) equal(b assignment) bool {
	return a.size() == b.size() && a.minus(b).size() == 0
}

// fromTopics is the assignment a heartbeat reports owning.
func fromTopics(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) assignment {
	out := assignment{}
	for _, t := range ts {
		for _, p := range t.Partitions {
			out.add(uuid.UUID(t.TopicID), p)
		}
	}
	return out
}

// sortedTopics returns the topic ids of a in order, for deterministic output.
func (a assignment) sortedTopics() []uuid.UUID {
	ts := make([]uuid.UUID, 0, len(a))
	for t, ps := range a {
		if len(ps) > 0 {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
	return ts
}

// topicInfo is what the group needs of a topic: its id and partitions.
type topicInfo struct {
	ID         uuid.UUID
	Name       string
	Partitions int32
}

// topicSnapshot is the topics that exist, by name, as the coordinator last
// read them.
type topicSnapshot map[string]topicInfo

// cgMember is one member of a consumer-protocol group. The exported fields
// are persisted.
type cgMember struct {
	ID               string        `json:"id"`
	InstanceID       *string       `json:"instance_id,omitempty"`
	RackID           *string       `json:"rack_id,omitempty"`
	ClientID         string        `json:"client_id"`
	ClientHost       string        `json:"client_host"`
	SubscribedNames  []string      `json:"subscribed_names"`
	SubscribedRegex  string        `json:"subscribed_regex,omitempty"`
	Assignor         string        `json:"assignor,omitempty"`
	RebalanceTimeout time.Duration `json:"rebalance_timeout"`
	Epoch            int32         `json:"epoch"`
	PrevEpoch        int32         `json:"prev_epoch"`
	State            string        `json:"state"`
	Assigned         assignment    `json:"assigned"`
	Revoking         assignment    `json:"revoking,omitempty"`
	// Left is a static member that left with epoch -2: it keeps its
	// partitions until its instance rejoins or its session ends.
	Left bool `json:"left,omitempty"`

	deadline       time.Time // end of the session
	revokeDeadline time.Time // unrevoked: when the member is fenced for not releasing
	regex          *regexp.Regexp
}

// consumerGroup is the state of a consumer-protocol group. The exported
// fields are persisted.
type consumerGroup struct {
	Epoch           int32                 `json:"epoch"`
	AssignmentEpoch int32                 `json:"assignment_epoch"`
	Assignor        string                `json:"assignor,omitempty"`
	TopicsHash      string                `json:"topics_hash,omitempty"`
	Target          map[string]assignment `json:"target"`
	Members         map[string]*cgMember  `json:"members"`

	static map[string]string // instance id -> member id
	// topicsPrint is the fingerprint of the topics last compared with the
	// subscriptions, and subsStale says the subscriptions changed since:
	// a heartbeat that changes neither matches no regex.
	topicsPrint uint64
	subsStale   bool
}

// cgConfig is what the state machine needs of the coordinator's config.
type cgConfig struct {
	sessionTimeout    time.Duration
	heartbeatInterval time.Duration
	maxSize           int
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{Target: map[string]assignment{}, Members: map[string]*cgMember{}, static: map[string]string{}, subsStale: true}
}

// fingerprint identifies the topics' names, ids and partition counts,
// whatever the map's order, in one pass without matching anything.
func (ts topicSnapshot) fingerprint() uint64 {
	var sum uint64
	for _, t := range ts {
		h := fnv.New64a()
		h.Write([]byte(t.Name))
		h.Write(t.ID[:])
		fmt.Fprint(h, t.Partitions)
		sum += h.Sum64()
	}
	return sum + uint64(len(ts))
}

// encode is the group's persisted form.
func (cg *consumerGroup) encode() ([]byte, error) { return json.Marshal(cg) }

// decodeConsumerGroup restores a persisted group; its members' sessions
// and revocation timers start at now, as after a classic takeover.
func decodeConsumerGroup(data []byte, now time.Time, cfg cgConfig) (*consumerGroup, error) {
	cg := newConsumerGroup()
	if err := json.Unmarshal(data, cg); err != nil {
		return nil, fmt.Errorf("decode consumer group: %w", err)
	}
	if cg.Target == nil {
		cg.Target = map[string]assignment{}
	}
	if cg.Members == nil {
		cg.Members = map[string]*cgMember{}
	}
	for id, m := range cg.Members {
		if m == nil || m.ID != id {
			return nil, fmt.Errorf("decode consumer group: member %q malformed", id)
		}
		if m.Assigned == nil {
			m.Assigned = assignment{}
		}
		if m.SubscribedRegex != "" {
			re, err := compileRegex(m.SubscribedRegex)
			if err != nil {
				return nil, fmt.Errorf("decode consumer group: member %q: %w", id, err)
			}
			m.regex = re
		}
		m.deadline = now.Add(cfg.sessionTimeout)
		if m.State == cgUnrevoked {
			m.revokeDeadline = now.Add(m.RebalanceTimeout)
		}
		if m.InstanceID != nil {
			cg.static[*m.InstanceID] = id
		}
	}
	return cg, nil
}

// compileRegex compiles a subscription regex. KIP-848 matches it against
// the whole topic name with RE2J; Go's regexp is RE2, the same syntax.
func compileRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// state is the group's state as ConsumerGroupDescribe names it.
func (cg *consumerGroup) state() string {
	switch {
	case len(cg.Members) == 0:
		return cgStateEmpty
	case cg.Epoch != cg.AssignmentEpoch:
		return cgStateAssigning
	}
	for _, m := range cg.Members {
		if m.Epoch != cg.AssignmentEpoch || m.State != cgStable {
			return cgStateReconciling
		}
	}
	return cgStateStable
}

func (cg *consumerGroup) sortedMembers() []*cgMember {
	ms := make([]*cgMember, 0, len(cg.Members))
	for _, m := range cg.Members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *cgMember) int { return strings.Compare(a.ID, b.ID) })
	return ms
}

// subscribes reports whether m subscribes to the topic.
func (m *cgMember) subscribes(name string) bool {
	return slices.Contains(m.SubscribedNames, name) || m.regex != nil && m.regex.MatchString(name)
}

// subscribed returns the topics of the snapshot some member subscribes to.
func (cg *consumerGroup) subscribed(topics topicSnapshot) []topicInfo {
	var out []topicInfo
	for name, t := range topics {
		for _, m := range cg.Members {
			if m.subscribes(name) {
				out = append(out, t)
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b topicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// topicsHash identifies the subscribed topics' ids and partition counts: a
// change (a topic created, deleted or grown) bumps the group epoch.
func topicsHash(ts []topicInfo) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s:%s:%d;", t.Name, t.ID, t.Partitions)
	}
	return b.String()
}

// bump starts a new group epoch: the members or their subscriptions
// changed.
func (cg *consumerGroup) bump() { cg.Epoch++; cg.subsStale = true }

// owner returns the member other than except that has the partition
// assigned or pending revocation, if any.
func (cg *consumerGroup) ownedByOther(t uuid.UUID, p int32, except string) bool {
	for id, m := range cg.Members {
		if id != except && (m.Assigned.has(t, p) || m.Revoking.has(t, p)) {
			return true
		}
	}
	return false
}

// refresh brings the target assignment to the group epoch, after checking
// whether the subscribed topics changed: this is where a new topic
// matching a regex, or added partitions, reach the members. The topics are
// matched against the subscriptions only when either changed.
func (cg *consumerGroup) refresh(topics topicSnapshot) {
	var subs []topicInfo
	if fp := topics.fingerprint(); fp != cg.topicsPrint || cg.subsStale {
		cg.topicsPrint, cg.subsStale = fp, false
		subs = cg.subscribed(topics)
		if h := topicsHash(subs); h != cg.TopicsHash {
			cg.TopicsHash = h
			if len(cg.Members) > 0 {
				cg.bump()
			}
		}
	}
	if cg.Epoch == cg.AssignmentEpoch {
		return
	}
	if subs == nil {
		subs = cg.subscribed(topics)
	}
	cg.Assignor = cg.groupAssignor()
	spec := assignSpec{current: cg.Target, topics: subs}
	for _, m := range cg.sortedMembers() {
		spec.members = append(spec.members, m.ID)
	}
	spec.subscribes = func(member, topic string) bool { return cg.Members[member].subscribes(topic) }
	if cg.Assignor == assignorRange {
		cg.Target = assignRange(spec)
	} else {
		cg.Target = assignUniform(spec)
	}
	cg.AssignmentEpoch = cg.Epoch
}

// groupAssignor is the assignor the members ask for most (ties to the
// first by name); uniform when none asks.
func (cg *consumerGroup) groupAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.Members {
		if m.Assignor != "" {
			votes[m.Assignor]++
		}
	}
	best := ""
	for _, a := range []string{assignorRange, assignorUniform} {
		if votes[a] > votes[best] || best == "" && votes[a] > 0 {
			best = a
		}
	}
	if best == "" {
		return assignorUniform
	}
	return best
}

// reconcile moves m toward its target. owned is what the member's
// heartbeat says it owns (nil when the heartbeat did not say).
func (cg *consumerGroup) reconcile(m *cgMember, owned assignment, now time.Time) {
	if m.Left {
		return
	}
	target := cg.Target[m.ID]
	if target == nil {
		target = assignment{}
	}
	if m.State == cgUnrevoked {
		// The member still owns partitions it must release; it has
		// released them once its heartbeat no longer lists them.
		if owned == nil || owned.intersect(m.Revoking).size() > 0 {
			// Partitions of its assignment that the target no longer
			// gives it join the revocation.
			if lost := m.Assigned.minus(target); lost.size() > 0 {
				m.Assigned = m.Assigned.intersect(target)
				for t, ps := range lost {
					for _, p := range ps {
						m.Revoking.add(t, p)
					}
				}
			}
			return
		}
		m.Revoking = nil
		m.revokeDeadline = time.Time{}
	} else if m.Epoch == cg.AssignmentEpoch && m.State == cgStable {
		return
	}
	if lost := m.Assigned.minus(target); lost.size() > 0 {
		m.Assigned = m.Assigned.intersect(target)
		m.Revoking = lost
		m.State = cgUnrevoked
		m.revokeDeadline = now.Add(m.RebalanceTimeout)
		return
	}
	missing := false
	for t, ps := range target {
		for _, p := range ps {
			if m.Assigned.has(t, p) {
				continue
			}
			if cg.ownedByOther(t, p, m.ID) {
				missing = true
				continue
			}
			m.Assigned.add(t, p)
		}
	}
	if m.Epoch != cg.AssignmentEpoch {
		m.PrevEpoch, m.Epoch = m.Epoch, cg.AssignmentEpoch
	}
	m.State = cgStable
	if missing {
		m.State = cgUnreleased
	}
}

// cgError is a heartbeat's error, with Kafka's code and a message.
type cgError struct {
	code int16
	msg  string
}

func cgErr(e *kerr.Error, format string, args ...any) *cgError {
	return &cgError{code: e.Code, msg: fmt.Sprintf(format, args...)}
}

// heartbeatResult is what a heartbeat did: the response's fields, and
// whether the group changed in a way that must be persisted before the
// response goes out.
type heartbeatResult struct {
	err        *cgError
	memberID   string
	epoch      int32
	assignment assignment // nil: the response carries none
	dirty      bool
}

// heartbeat applies one ConsumerGroupHeartbeat to the group. topics is the
// coordinator's view of the topics; now the time of the request.
func (cg *consumerGroup) heartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, topics topicSnapshot, now time.Time, cfg cgConfig) heartbeatResult {
	epochBefore, targetBefore := cg.Epoch, cg.AssignmentEpoch
	res := cg.heartbeatInner(req, client, topics, now, cfg)
	if cg.Epoch != epochBefore || cg.AssignmentEpoch != targetBefore {
		res.dirty = true
	}
	return res
}

func (cg *consumerGroup) heartbeatInner(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, topics topicSnapshot, now time.Time, cfg cgConfig) heartbeatResult {
	fail := func(e *cgError) heartbeatResult {
		return heartbeatResult{err: e, memberID: req.MemberID, epoch: req.MemberEpoch}
	}
	memberID := req.MemberID
	switch {
	case req.MemberEpoch < -2:
		return fail(cgErr(kerr.InvalidRequest, "member epoch %d is invalid", req.MemberEpoch))
	case memberID == "" && (req.Version >= 1 || req.MemberEpoch != 0):
		return fail(cgErr(kerr.InvalidRequest, "the member id is required"))
	case req.InstanceID != nil && *req.InstanceID == "":
		return fail(cgErr(kerr.InvalidRequest, "the instance id must not be empty"))
	case req.MemberEpoch == -2 && req.InstanceID == nil:
		return fail(cgErr(kerr.InvalidRequest, "epoch -2 is the leave of a static member, which needs its instance id"))
	}
	if req.MemberEpoch < 0 {
		return cg.leaveMember(req)
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != assignorUniform && *req.ServerAssignor != assignorRange {
		return fail(cgErr(kerr.UnsupportedAssignor, "assignor %q is not supported (uniform, range)", *req.ServerAssignor))
	}
	var re *regexp.Regexp
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		var err error
		if re, err = compileRegex(*req.SubscribedTopicRegex); err != nil {
			return fail(cgErr(kerr.InvalidRegularExpression, "regex %q: %v", *req.SubscribedTopicRegex, err))
		}
	}

	var m *cgMember
	var owned assignment
	if req.Topics != nil {
		owned = fromTopics(req.Topics)
	}
	changed := false // the member's subscription or assignor changed
	if req.MemberEpoch == 0 {
		switch {
		case req.RebalanceTimeoutMillis < 0:
			return fail(cgErr(kerr.InvalidRequest, "a joining member must send its rebalance timeout"))
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return fail(cgErr(kerr.InvalidRequest, "a joining member must send its subscription"))
		case owned.size() > 0:
			return fail(cgErr(kerr.InvalidRequest, "a joining member owns no partitions"))
		}
		if memberID == "" {
			memberID = uuid.NewString() // v0: the coordinator names the member
		}
		var e *cgError
		if m, changed, e = cg.joinMember(memberID, req.InstanceID, cfg); e != nil {
			return fail(e)
		}
	} else {
		m = cg.Members[memberID]
		if m == nil || m.Left {
			return fail(cgErr(kerr.UnknownMemberID, "member %q is not in the group", memberID))
		}
		if req.InstanceID != nil && (m.InstanceID == nil || *m.InstanceID != *req.InstanceID) {
			return fail(cgErr(kerr.FencedInstanceID, "instance %q is not member %q's", *req.InstanceID, memberID))
		}
		switch {
		case req.MemberEpoch > m.Epoch:
			return fail(cgErr(kerr.FencedMemberEpoch, "epoch %d is ahead of the member's %d", req.MemberEpoch, m.Epoch))
		case req.MemberEpoch < m.Epoch:
			// The response giving the member its epoch may have been
			// lost: the previous epoch is taken from a member owning a
			// part of its assignment.
			if req.MemberEpoch != m.PrevEpoch || owned == nil || owned.minus(m.Assigned).size() > 0 {
				return fail(cgErr(kerr.FencedMemberEpoch, "epoch %d is behind the member's %d", req.MemberEpoch, m.Epoch))
			}
		}
	}

	// The member's settings: a field left out (null, -1) is unchanged.
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.SubscribedNames) {
			m.SubscribedNames, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.SubscribedRegex {
		m.SubscribedRegex, m.regex, changed = *req.SubscribedTopicRegex, re, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.Assignor {
		m.Assignor, changed = *req.ServerAssignor, true
	}
	if req.RebalanceTimeoutMillis >= 0 {
		m.RebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.RackID != nil {
		m.RackID = cloneString(req.RackID)
	}
	if client.ID != "" || client.Host != "" {
		m.ClientID, m.ClientHost = client.ID, client.Host
	}
	m.deadline = now.Add(cfg.sessionTimeout)
	if changed {
		cg.bump()
	}

	before := m.Assigned.clone()
	epochBefore, stateBefore := m.Epoch, m.State
	cg.refresh(topics)
	cg.reconcile(m, owned, now)
	// Members waiting for partitions another member released here get
	// them on their next heartbeat; nothing to do for them now.

	res := heartbeatResult{memberID: m.ID, epoch: m.Epoch}
	if changed || m.Epoch != epochBefore || m.State != stateBefore || !m.Assigned.equal(before) {
		res.dirty = true
	}
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if req.MemberEpoch == 0 || full || !m.Assigned.equal(before) {
		res.assignment = m.Assigned.clone()
	}
	return res
}

// joinMember admits a member at epoch 0: a new one (added true: the group
// epoch moves), a member rejoining after losing its assignment (same id),
// or a static member replacing its instance's previous member, which left
// with epoch -2 (neither moves the group epoch by itself).
func (cg *consumerGroup) joinMember(memberID string, instanceID *string, cfg cgConfig) (m *cgMember, added bool, e *cgError) {
	if instanceID != nil {
		if prevID, ok := cg.static[*instanceID]; ok && prevID != memberID {
			prev := cg.Members[prevID]
			if prev != nil && !prev.Left {
				return nil, false, cgErr(kerr.UnreleasedInstanceID, "instance %q is still held by member %q", *instanceID, prevID)
			}
			if cg.Members[memberID] != nil {
				return nil, false, cgErr(kerr.FencedInstanceID, "member %q is already a member", memberID)
			}
			// The new member continues the old one: its epoch, its
			// partitions and its target.
			m = prev
			delete(cg.Members, prevID)
			m.ID, m.Left = memberID, false
			cg.Members[memberID] = m
			cg.Target[memberID] = cg.Target[prevID]
			delete(cg.Target, prevID)
			cg.static[*instanceID] = memberID
			return m, false, nil
		}
	}
	if m = cg.Members[memberID]; m != nil {
		if instanceID != nil && (m.InstanceID == nil || *m.InstanceID != *instanceID) || instanceID == nil && m.InstanceID != nil {
			return nil, false, cgErr(kerr.FencedInstanceID, "member %q joins with another instance id", memberID)
		}
		// It lost its assignment (an error, a fence): it owns nothing
		// now, and gets back what its target allows.
		m.Left = false
		m.Assigned, m.Revoking = assignment{}, nil
		m.PrevEpoch, m.Epoch, m.State = 0, 0, cgUnreleased
		m.revokeDeadline = time.Time{}
		return m, false, nil
	}
	if cfg.maxSize > 0 && len(cg.Members) >= cfg.maxSize {
		return nil, false, cgErr(kerr.GroupMaxSizeReached, "the group has %d members", len(cg.Members))
	}
	m = &cgMember{ID: memberID, InstanceID: cloneString(instanceID), Assigned: assignment{}, State: cgUnreleased}
	cg.Members[memberID] = m
	if instanceID != nil {
		cg.static[*instanceID] = memberID
	}
	return m, true, nil
}

// leaveMember handles a heartbeat with epoch -1 (the member leaves) or -2
// (a static member leaves for now, keeping its partitions for its instance
// until its session ends).
func (cg *consumerGroup) leaveMember(req *kmsg.ConsumerGroupHeartbeatRequest) heartbeatResult {
	res := heartbeatResult{memberID: req.MemberID, epoch: req.MemberEpoch}
	m := cg.Members[req.MemberID]
	if m == nil && req.InstanceID != nil {
		if id, ok := cg.static[*req.InstanceID]; ok {
			m = cg.Members[id]
		}
	}
	if m == nil {
		res.err = cgErr(kerr.UnknownMemberID, "member %q is not in the group", req.MemberID)
		return res
	}
	if req.InstanceID != nil && (m.InstanceID == nil || *m.InstanceID != *req.InstanceID) {
		res.err = cgErr(kerr.FencedInstanceID, "instance %q is not member %q's", *req.InstanceID, req.MemberID)
		return res
	}
	res.dirty = true
	if req.MemberEpoch == -2 && m.InstanceID != nil {
		m.Left = true
		return res
	}
	cg.remove(m)
	return res
}

// remove takes a member out of the group: its partitions are free, and a
// new group epoch gives them to the others.
func (cg *consumerGroup) remove(m *cgMember) {
	delete(cg.Members, m.ID)
	delete(cg.Target, m.ID)
	if m.InstanceID != nil && cg.static[*m.InstanceID] == m.ID {
		delete(cg.static, *m.InstanceID)
	}
	cg.bump()
}

// expire removes the members whose session or revocation time ran out,
// and returns their ids.
func (cg *consumerGroup) expire(now time.Time) (sessions, revocations []string) {
	for _, m := range cg.sortedMembers() {
		switch {
		case !now.Before(m.deadline):
			sessions = append(sessions, m.ID)
			cg.remove(m)
		case m.State == cgUnrevoked && !m.revokeDeadline.IsZero() && !now.Before(m.revokeDeadline):
			revocations = append(revocations, m.ID)
			cg.remove(m)
		}
	}
	return sessions, revocations
}

// nextDeadline is the earliest member deadline; zero when none.
func (cg *consumerGroup) nextDeadline() time.Time {
	var next time.Time
	for _, m := range cg.Members {
		for _, t := range []time.Time{m.deadline, m.revokeDeadline} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// checkCommit validates an OffsetCommit of a consumer-protocol group, as
// Kafka does, with KIP-1251's leniency: a commit at an older epoch of
// partitions the member still owns is taken, since no other member can
// have them.
func (cg *consumerGroup) checkCommit(memberID string, epoch int32, partitions []topicPartitionID, now time.Time) int16 {
	if epoch < 0 && memberID == "" {
		if len(cg.Members) == 0 {
			return 0 // outside group management: tools, simple consumers
		}
		return kerr.UnknownMemberID.Code
	}
	m := cg.Members[memberID]
	if m == nil || m.Left {
		return kerr.UnknownMemberID.Code
	}
	switch {
	case epoch > m.Epoch:
		return kerr.FencedMemberEpoch.Code
	case epoch < m.Epoch:
		for _, tp := range partitions {
			if !m.Assigned.has(tp.id, tp.partition) && !m.Revoking.has(tp.id, tp.partition) {
				return kerr.StaleMemberEpoch.Code
			}
		}
	}
	return 0
}

// checkFetch validates the member of an OffsetFetch v9+.
func (cg *consumerGroup) checkFetch(memberID string, epoch int32) int16 {
	if epoch < 0 && memberID == "" {
		return 0
	}
	m := cg.Members[memberID]
	switch {
	case m == nil || m.Left:
		return kerr.UnknownMemberID.Code
	case epoch != m.Epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// topicPartitionID is a partition by topic id.
type topicPartitionID struct {
	id        uuid.UUID
	partition int32
}

// assignSpec is the input of a server-side assignor.
type assignSpec struct {
	members    []string // sorted
	topics     []topicInfo
	subscribes func(member, topic string) bool
	current    map[string]assignment // the previous target, for stickiness
}

// assignUniform spreads the partitions of every subscribed topic evenly
// over the members subscribing to it, keeping each partition with its
// previous owner where the balance allows (Kafka's uniform assignor).
func assignUniform(spec assignSpec) map[string]assignment {
	out := make(map[string]assignment, len(spec.members))
	load := make(map[string]int, len(spec.members))
	for _, m := range spec.members {
		out[m] = assignment{}
	}
	type part struct {
		t        topicInfo
		p        int32
		eligible []string
	}
	var parts []part
	total := 0
	for _, t := range spec.topics {
		var eligible []string
		for _, m := range spec.members {
			if spec.subscribes(m, t.Name) {
				eligible = append(eligible, m)
			}
		}
		if len(eligible) == 0 {
			continue
		}
		for p := int32(0); p < t.Partitions; p++ {
			parts = append(parts, part{t, p, eligible})
		}
		total += int(t.Partitions)
	}
	if len(spec.members) == 0 {
		return out
	}
	quota := (total + len(spec.members) - 1) / len(spec.members)
	owner := make([]string, len(parts))
	// Sticky first: a partition stays with its previous owner while that
	// owner is below the quota.
	for i, pt := range parts {
		for _, m := range pt.eligible {
			if spec.current[m].has(pt.t.ID, pt.p) && load[m] < quota {
				owner[i] = m
				load[m]++
				break
			}
		}
	}
	leastLoaded := func(eligible []string) string {
		best := eligible[0]
		for _, m := range eligible[1:] {
			if load[m] < load[best] {
				best = m
			}
		}
		return best
	}
	for i, pt := range parts {
		if owner[i] == "" {
			m := leastLoaded(pt.eligible)
			owner[i] = m
			load[m]++
		}
	}
	// Balance: move partitions from members with two more than another
	// eligible member, until none can move.
	for moved := true; moved; {
		moved = false
		for i, pt := range parts {
			m := leastLoaded(pt.eligible)
			if load[owner[i]] > load[m]+1 {
				load[owner[i]]--
				load[m]++
				owner[i] = m
				moved = true
			}
		}
	}
	for i, pt := range parts {
		out[owner[i]].add(pt.t.ID, pt.p)
	}
	return out
}

// assignRange gives each member subscribing to a topic a contiguous range
// of its partitions, members in id order, the first ones one more when
// the partitions do not divide evenly (Kafka's range assignor): members
// subscribing to co-partitioned topics get the same partition numbers.
func assignRange(spec assignSpec) map[string]assignment {
	out := make(map[string]assignment, len(spec.members))
	for _, m := range spec.members {
		out[m] = assignment{}
	}
	for _, t := range spec.topics {
		var eligible []string
		for _, m := range spec.members {
			if spec.subscribes(m, t.Name) {
				eligible = append(eligible, m)
			}
		}
		n := int32(len(eligible))
		if n == 0 {
			continue
		}
		q, r := t.Partitions/n, t.Partitions%n
		start := int32(0)
		for i, m := range eligible {
			count := q
			if int32(i) < r {
				count++
			}
			for p := start; p < start+count; p++ {
				out[m].add(t.ID, p)
			}
			start += count
		}
	}
	return out
}

// toResponseAssignment is an assignment as the heartbeat response carries it.
func toResponseAssignment(a assignment) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	ra := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	ra.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, t := range a.sortedTopics() {
		rt := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		rt.TopicID = t
		rt.Partitions = slices.Clone(a[t])
		ra.Topics = append(ra.Topics, rt)
	}
	return &ra
}

// toDescribeAssignment is an assignment as ConsumerGroupDescribe shows it.
func toDescribeAssignment(a assignment, names map[uuid.UUID]string) kmsg.Assignment {
	da := kmsg.NewAssignment()
	for _, t := range a.sortedTopics() {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = t, names[t], slices.Clone(a[t])
		da.TopicPartitions = append(da.TopicPartitions, tp)
	}
	slices.SortFunc(da.TopicPartitions, func(x, y kmsg.AssignmentTopicPartition) int { return cmp.Compare(x.Topic, y.Topic) })
	return da
}
