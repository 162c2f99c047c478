package groups

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file is the membership state machine. Every function runs on the
// group's goroutine.

// unavailable is the error of a group that cannot serve members now.
func (g *group) unavailable() int16 {
	if g.gone {
		return kerr.NotCoordinator.Code
	}
	if g.loadErr != nil || g.state == Dead {
		return kerr.CoordinatorNotAvailable.Code
	}
	return 0
}

// checkStatic applies Kafka's static membership checks to a request naming
// instanceID and memberID: an unknown instance is UNKNOWN_MEMBER_ID, an
// instance now held by another member id is FENCED_INSTANCE_ID.
func (g *group) checkStatic(instanceID *string, memberID string) int16 {
	if instanceID == nil {
		return 0
	}
	known, ok := g.static[*instanceID]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	if known != memberID {
		return kerr.FencedInstanceID.Code
	}
	return 0
}

func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return ms
}

// compatible reports whether a member with these protocols may join: any
// type and protocols for a group without members, else the group's type
// and a protocol every other member supports.
func (g *group) compatible(protocolType string, protocols []kmsg.JoinGroupRequestProtocol, self *member) bool {
	others := 0
	for _, m := range g.members {
		if m != self {
			others++
		}
	}
	if others == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		n := 0
		for _, m := range g.members {
			if m != self && supports(m, p.Name) {
				n++
			}
		}
		if n == others {
			return true
		}
	}
	return false
}

func supports(m *member, protocol string) bool {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return true
		}
	}
	return false
}

func metadataFor(m *member, protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// selectProtocol picks the group's protocol as Kafka does: among the
// protocols every member supports, each member votes for the one it prefers
// most; most votes wins, ties going to the first member's preference.
func (g *group) selectProtocol() string {
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return ""
	}
	var candidates []string
	for _, p := range ms[0].protocols {
		all := true
		for _, m := range ms[1:] {
			if !supports(m, p.Name) {
				all = false
				break
			}
		}
		if all && !slices.Contains(candidates, p.Name) {
			candidates = append(candidates, p.Name)
		}
	}
	if len(candidates) == 0 {
		// Unreachable: joins are refused unless compatible.
		return ms[0].protocols[0].Name
	}
	votes := make(map[string]int, len(candidates))
	for _, m := range ms {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := candidates[0]
	for _, p := range candidates[1:] {
		if votes[p] > votes[best] {
			best = p
		}
	}
	return best
}

func sameProtocols(m *member, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(m.protocols) != len(protocols) {
		return false
	}
	for i, p := range protocols {
		if m.protocols[i].Name != p.Name || !bytes.Equal(m.protocols[i].Metadata, p.Metadata) {
			return false
		}
	}
	return true
}

func cloneProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
	return out
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

// timeouts returns a join's session and rebalance timeouts; v0 has no
// rebalance timeout and uses the session timeout, as Kafka does.
func timeouts(req *kmsg.JoinGroupRequest) (session, rebalance time.Duration) {
	session = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session
	}
	return session, rebalance
}

// update applies a join's protocols, timeouts and client to a member.
func (m *member) update(req *kmsg.JoinGroupRequest, client Client) {
	m.protocolType = req.ProtocolType
	m.protocols = cloneProtocols(req.Protocols)
	m.sessionTimeout, m.rebalanceTimeout = timeouts(req)
	m.client = client
}

// join handles a JoinGroup.
func (g *group) join(req *kmsg.JoinGroupRequest, client Client, reply chan<- *kmsg.JoinGroupResponse) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	fail := func(code int16) {
		resp.ErrorCode = code
		resp.Generation = -1
		if resp.MemberID == "" {
			resp.MemberID = req.MemberID
		}
		reply <- resp
	}
	if code := g.unavailable(); code != 0 {
		fail(code)
		return
	}
	if code := g.classicRefused(); code != 0 {
		fail(code)
		return
	}
	session, _ := timeouts(req)
	if session < g.c.cfg.MinSessionTimeout || session > g.c.cfg.MaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	now := g.c.now()
	w := &joinWaiter{req: req, reply: reply}

	if req.MemberID == "" {
		if req.InstanceID != nil {
			if id, ok := g.static[*req.InstanceID]; ok {
				m := g.members[id]
				if !g.compatible(req.ProtocolType, req.Protocols, m) {
					fail(kerr.InconsistentGroupProtocol.Code)
					return
				}
				g.replaceStatic(m, w, client, now)
				return
			}
		}
		if !g.compatible(req.ProtocolType, req.Protocols, nil) {
			fail(kerr.InconsistentGroupProtocol.Code)
			return
		}
		if max := g.c.cfg.MaxGroupSize; max > 0 && len(g.members)+len(g.pending) >= max {
			fail(kerr.GroupMaxSizeReached.Code)
			return
		}
		id := newMemberID(client.ID, req.InstanceID)
		if req.InstanceID == nil && req.Version >= 4 {
			// KIP-394: a dynamic member first gets its id, then joins with it.
			g.pending[id] = now.Add(session)
			resp.MemberID = id
			fail(kerr.MemberIDRequired.Code)
			return
		}
		g.addMember(id, w, client, now)
		return
	}

	if _, ok := g.pending[req.MemberID]; ok && req.InstanceID == nil {
		if !g.compatible(req.ProtocolType, req.Protocols, nil) {
			fail(kerr.InconsistentGroupProtocol.Code)
			return
		}
		delete(g.pending, req.MemberID)
		g.addMember(req.MemberID, w, client, now)
		return
	}
	if code := g.checkStatic(req.InstanceID, req.MemberID); code != 0 {
		fail(code)
		return
	}
	m := g.members[req.MemberID]
	if m == nil {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	if !g.compatible(req.ProtocolType, req.Protocols, m) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	switch g.state {
	case PreparingRebalance:
		g.rejoin(m, w, client, now)
		g.maybeCompleteJoin(now)
	case CompletingRebalance:
		if sameProtocols(m, req.Protocols) {
			// The member missed our response: send it again.
			g.answerJoin(m, w, now)
			return
		}
		g.rejoin(m, w, client, now)
		g.prepareRebalance(now)
	case Stable:
		if m.id != g.leader && sameProtocols(m, req.Protocols) {
			g.answerJoin(m, w, now)
			return
		}
		// The leader rejoining, or a member with new metadata
		// (subscription), means a new assignment.
		g.rejoin(m, w, client, now)
		g.prepareRebalance(now)
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

// addMember adds a new member waiting in JoinGroup and starts or advances a
// rebalance.
func (g *group) addMember(id string, w *joinWaiter, client Client, now time.Time) {
	g.seq++
	m := &member{id: id, instanceID: cloneString(w.req.InstanceID), seq: g.seq, join: w}
	m.update(w.req, client)
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	g.c.m.members.Inc()
	g.c.log.Debug("member joined", "group", g.name, "member", id, "client", client.ID)
	if g.state == PreparingRebalance {
		// Members arriving during the initial delay extend it.
		if !g.delayUntil.IsZero() && now.Before(g.delayUntil) {
			g.delayUntil = minTime(now.Add(g.c.cfg.InitialRebalanceDelay), g.rebalanceDeadline)
		}
		g.maybeCompleteJoin(now)
		return
	}
	g.prepareRebalance(now)
}

// rejoin records a known member's new JoinGroup.
func (g *group) rejoin(m *member, w *joinWaiter, client Client, now time.Time) {
	if m.join != nil {
		// An earlier JoinGroup of the same member is superseded.
		g.replyJoinError(m.join, m.id, kerr.RebalanceInProgress.Code)
	}
	m.update(w.req, client)
	m.join = w
}

// replaceStatic gives a static member that joins again without its member
// id a new id (KIP-345). The old id is fenced. A stable group whose protocol
// does not change keeps its assignment without a rebalance.
func (g *group) replaceStatic(m *member, w *joinWaiter, client Client, now time.Time) {
	oldID := m.id
	newID := newMemberID(client.ID, w.req.InstanceID)
	g.failWaiters(m, kerr.FencedInstanceID.Code)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[*m.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.awaitingSync[oldID] {
		delete(g.awaitingSync, oldID)
		g.awaitingSync[newID] = true
	}
	m.update(w.req, client)
	g.c.log.Info("static member replaced", "group", g.name, "instance", *m.instanceID, "old_member", oldID, "member", newID)
	switch g.state {
	case Stable:
		if m.protocolType == g.protocolType && g.selectProtocol() == g.protocol {
			// Nothing changes for the group but the member id: answer
			// with the current generation once the new id is saved, so
			// that a coordinator taking over knows it. A leader is told
			// to skip the assignment (KIP-814) and keeps the current one.
			gen := g.generation
			g.saveInfo(g.info(), func(err error) {
				switch {
				case g.gone:
					g.replyJoinError(w, newID, kerr.NotCoordinator.Code)
				case err != nil:
					g.replyJoinError(w, newID, g.c.storeErrorCode("save_group", err))
				case g.members[newID] != m || g.generation != gen || g.state != Stable:
					// A rebalance began meanwhile: the member joins it.
					g.replyJoinError(w, newID, kerr.RebalanceInProgress.Code)
				default:
					g.answerJoin(m, w, g.c.now())
				}
			})
			return
		}
		m.join = w
		g.prepareRebalance(now)
	case PreparingRebalance:
		m.join = w
		g.maybeCompleteJoin(now)
	default:
		// CompletingRebalance: the leader may be assigning to the old
		// id, so start again.
		m.join = w
		g.prepareRebalance(now)
	}
}

// answerJoin answers a JoinGroup at once with the current generation.
func (g *group) answerJoin(m *member, w *joinWaiter, now time.Time) {
	resp := w.req.ResponseKind().(*kmsg.JoinGroupResponse)
	g.fillJoin(resp, m)
	if m.id == g.leader && g.state == Stable {
		resp.SkipAssignment = true
	}
	w.reply <- resp
	m.deadline = now.Add(m.sessionTimeout)
}

func (g *group) fillJoin(resp *kmsg.JoinGroupResponse, m *member) {
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = o.id
			rm.InstanceID = o.instanceID
			rm.ProtocolMetadata = metadataFor(o, g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
}

func (g *group) replyJoinError(w *joinWaiter, memberID string, code int16) {
	resp := w.req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = code
	resp.Generation = -1
	resp.MemberID = memberID
	w.reply <- resp
}

func (g *group) replySyncError(w *syncWaiter, code int16) {
	resp := w.req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = code
	w.reply <- resp
}

// failWaiters answers the member's waiting JoinGroup and SyncGroup with
// code; -1 means NOT_COORDINATOR.
func (g *group) failWaiters(m *member, code int16) {
	if code < 0 {
		code = kerr.NotCoordinator.Code
	}
	if m.join != nil {
		g.replyJoinError(m.join, m.id, code)
		m.join = nil
	}
	if m.sync != nil {
		g.replySyncError(m.sync, code)
		m.sync = nil
	}
}

// maxRebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// prepareRebalance moves the group to PreparingRebalance: members learn it
// from their heartbeats and rejoin.
func (g *group) prepareRebalance(now time.Time) {
	if g.state == CompletingRebalance {
		// Members waiting for the previous generation's assignment rejoin.
		for _, m := range g.members {
			m.assignment = nil
			if m.sync != nil {
				g.replySyncError(m.sync, kerr.RebalanceInProgress.Code)
				m.sync = nil
				m.deadline = now.Add(m.sessionTimeout)
			}
		}
	}
	wasEmpty := g.state == Empty
	g.state = PreparingRebalance
	g.assigning = false
	g.awaitingSync = nil
	g.syncDeadline = time.Time{}
	g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
	g.delayUntil = time.Time{}
	if wasEmpty && g.c.cfg.InitialRebalanceDelay > 0 {
		g.delayUntil = minTime(now.Add(g.c.cfg.InitialRebalanceDelay), g.rebalanceDeadline)
	}
	g.maybeCompleteJoin(now)
}

// maybeCompleteJoin completes the join phase once every member has rejoined
// and no member id handed out is still to be used.
func (g *group) maybeCompleteJoin(now time.Time) {
	if g.state != PreparingRebalance || now.Before(g.delayUntil) || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoin(now)
}

// completeJoin ends the join phase: members that did not rejoin are
// removed (static members stay until their session ends), the generation
// goes up, a protocol and a leader are chosen and every joined member gets
// its JoinGroup response.
func (g *group) completeJoin(now time.Time) {
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.instanceID == nil {
			g.c.m.expirations.WithLabelValues("rebalance").Inc()
			g.c.log.Info("member did not rejoin in time", "group", g.name, "member", m.id)
			g.removeMember(m)
		}
	}
	g.delayUntil = time.Time{}
	if len(g.members) == 0 {
		g.nextGeneration()
		g.state = Empty
		g.protocol = ""
		g.leader = ""
		g.rebalanceDeadline = time.Time{}
		g.save()
		return
	}
	var joined []*member
	for _, m := range g.sortedMembers() {
		if m.join != nil {
			joined = append(joined, m)
		}
	}
	if len(joined) == 0 {
		// Only static members that have not rejoined: wait for them, or
		// for their sessions to end.
		g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
		return
	}
	g.nextGeneration()
	// Members share the group's protocol type, except a lone member that
	// rejoined with another one.
	g.protocolType = joined[0].protocolType
	g.protocol = g.selectProtocol()
	if l := g.members[g.leader]; l == nil || l.join == nil {
		g.leader = joined[0].id
	}
	g.state = CompletingRebalance
	g.rebalanceDeadline = time.Time{}
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	g.awaitingSync = make(map[string]bool, len(joined))
	for _, m := range joined {
		resp := m.join.req.ResponseKind().(*kmsg.JoinGroupResponse)
		g.fillJoin(resp, m)
		m.join.reply <- resp
		m.join = nil
		m.deadline = now.Add(m.sessionTimeout)
		g.awaitingSync[m.id] = true
	}
	g.c.m.rebalances.Inc()
	g.c.log.Info("rebalance completed", "group", g.name, "generation", g.generation,
		"members", len(g.members), "protocol", g.protocol, "leader", g.leader)
	g.save()
}

func (g *group) nextGeneration() {
	g.generation++
	if g.generation < 0 {
		g.generation = 1
	}
}

// removeMember removes a member without starting a rebalance.
func (g *group) removeMember(m *member) {
	delete(g.members, m.id)
	delete(g.awaitingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
	}
	g.c.m.members.Dec()
}

// membersChanged reacts to members having been removed.
func (g *group) membersChanged(now time.Time) {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now)
	case PreparingRebalance:
		g.maybeCompleteJoin(now)
	}
}

// sync handles a SyncGroup.
func (g *group) sync(req *kmsg.SyncGroupRequest, reply chan<- *kmsg.SyncGroupResponse) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(code int16) {
		resp.ErrorCode = code
		reply <- resp
	}
	if code := g.unavailable(); code != 0 {
		fail(code)
		return
	}
	if code := g.checkStatic(req.InstanceID, req.MemberID); code != 0 {
		fail(code)
		return
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		fail(kerr.UnknownMemberID.Code)
		return
	case req.Generation != g.generation:
		fail(kerr.IllegalGeneration.Code)
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	now := g.c.now()
	switch g.state {
	case PreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case CompletingRebalance:
		if m.sync != nil {
			g.replySyncError(m.sync, kerr.RebalanceInProgress.Code)
		}
		m.sync = &syncWaiter{req: req, reply: reply}
		delete(g.awaitingSync, m.id)
		if m.id != g.leader || g.assigning {
			return
		}
		g.assign(req.GroupAssignment)
	case Stable:
		g.answerSync(m, &syncWaiter{req: req, reply: reply}, now)
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

// assign saves the leader's assignments with the generation, as Stable,
// and then hands them to the members waiting in SyncGroup (as Kafka writes
// the group's metadata record before answering): a coordinator taking the
// group over knows every assignment a member has received. The members
// keep heartbeating meanwhile; a rebalance that starts first answers them.
func (g *group) assign(assignments []kmsg.SyncGroupRequestGroupAssignment) {
	given := make(map[string][]byte, len(assignments))
	for _, a := range assignments {
		if g.members[a.MemberID] != nil {
			given[a.MemberID] = bytes.Clone(a.MemberAssignment)
		}
	}
	g.assigning = true
	// Members that have not sent SyncGroup yet get their assignment when
	// they do, as in a Stable group.
	g.awaitingSync = nil
	g.syncDeadline = time.Time{}
	info := g.info()
	info.State = Stable.String()
	for i := range info.Members {
		info.Members[i].Assignment = given[info.Members[i].ID]
	}
	gen := g.generation
	g.saveInfo(info, func(err error) {
		if g.gone || g.generation != gen || g.state != CompletingRebalance || !g.assigning {
			// Lost the group, or a rebalance began: the waiting members
			// were answered then.
			return
		}
		g.assigning = false
		now := g.c.now()
		if err != nil {
			// The members rejoin, as in Kafka when the group's record
			// cannot be written.
			g.prepareRebalance(now)
			return
		}
		for _, o := range g.members {
			o.assignment = given[o.id]
		}
		g.state = Stable
		for _, o := range g.members {
			if o.sync != nil {
				g.answerSync(o, o.sync, now)
				o.sync = nil
			}
		}
	})
}

func (g *group) answerSync(m *member, w *syncWaiter, now time.Time) {
	resp := w.req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	w.reply <- resp
	m.deadline = now.Add(m.sessionTimeout)
}

// heartbeat handles a Heartbeat.
func (g *group) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if code := g.unavailable(); code != 0 {
		return code
	}
	if code := g.checkStatic(req.InstanceID, req.MemberID); code != 0 {
		return code
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case req.Generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	m.deadline = g.c.now().Add(m.sessionTimeout)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// leave handles one member of a LeaveGroup.
func (g *group) leave(memberID string, instanceID *string) int16 {
	if code := g.unavailable(); code != 0 {
		return code
	}
	if instanceID != nil {
		known, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if memberID != "" && memberID != known {
			return kerr.FencedInstanceID.Code
		}
		memberID = known
	}
	if _, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		g.maybeCompleteJoin(g.c.now())
		return 0
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.failWaiters(m, kerr.UnknownMemberID.Code)
	g.c.log.Debug("member left", "group", g.name, "member", m.id)
	g.removeMember(m)
	g.membersChanged(g.c.now())
	return 0
}

// tick applies the deadlines that have passed.
func (g *group) tick(now time.Time) {
	g.consumerTick(now)
	for id, dl := range g.pending {
		if !now.Before(dl) {
			delete(g.pending, id)
		}
	}
	removed := false
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.sync == nil && !now.Before(m.deadline) {
			g.c.m.expirations.WithLabelValues("session").Inc()
			g.c.log.Info("member session expired", "group", g.name, "member", m.id, "session_timeout", m.sessionTimeout)
			g.removeMember(m)
			removed = true
		}
	}
	if g.state == CompletingRebalance && !now.Before(g.syncDeadline) {
		for _, m := range g.sortedMembers() {
			if g.awaitingSync[m.id] {
				g.c.m.expirations.WithLabelValues("sync").Inc()
				g.c.log.Info("member did not sync in time", "group", g.name, "member", m.id)
				g.removeMember(m)
				removed = true
			}
		}
	}
	if removed {
		g.membersChanged(now)
	}
	if g.state == PreparingRebalance {
		if !now.Before(g.rebalanceDeadline) {
			g.completeJoin(now)
		} else {
			g.maybeCompleteJoin(now)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
