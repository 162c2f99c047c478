package client

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin manages topics and consumer groups.
type Admin struct{ c *Client }

// Admin returns the client's admin API.
func (c *Client) Admin() *Admin { return &Admin{c: c} }

// TopicSummary is a topic as ListTopics reports it.
type TopicSummary struct {
	Name       string `json:"name"`
	ID         string `json:"id"` // UUID
	Partitions int    `json:"partitions"`
}

// PartitionInfo is a partition's leadership and offsets.
type PartitionInfo struct {
	Partition      int32 `json:"partition"`
	Leader         int32 `json:"leader"` // broker id, -1 when none
	LeaderEpoch    int32 `json:"leader_epoch"`
	LogStartOffset int64 `json:"log_start_offset"` // oldest offset still readable
	HighWatermark  int64 `json:"high_watermark"`   // offset the next record gets
}

// Records is the number of records readable in the partition.
func (p PartitionInfo) Records() int64 { return p.HighWatermark - p.LogStartOffset }

// ConfigEntry is one config of a topic.
type ConfigEntry struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"` // "topic", "broker", "default" or "unknown"
	Sensitive bool   `json:"sensitive,omitempty"`
}

// TopicInfo is what DescribeTopic reports.
type TopicInfo struct {
	Name       string          `json:"name"`
	ID         string          `json:"id"`
	Partitions []PartitionInfo `json:"partitions"`
	Configs    []ConfigEntry   `json:"configs"` // sorted by name
}

// CreateTopic creates a topic. partitions -1 takes the broker's default;
// configs are topic configs such as retention.ms.
func (a *Admin) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (TopicSummary, error) {
	var cfg map[string]*string
	if len(configs) > 0 {
		cfg = make(map[string]*string, len(configs))
		for k, v := range configs {
			cfg[k] = kadm.StringPtr(v)
		}
	}
	resp, err := a.c.adm.CreateTopic(ctx, partitions, -1, cfg, name)
	if err != nil {
		return TopicSummary{}, a.c.wrap("create topic", name, withMessage(err, resp.ErrMessage))
	}
	return TopicSummary{Name: name, ID: formatTopicID(resp.ID), Partitions: int(resp.NumPartitions)}, nil
}

// ListTopics lists the topics, sorted by name.
func (a *Admin) ListTopics(ctx context.Context) ([]TopicSummary, error) {
	md, err := a.c.adm.ListTopics(ctx)
	if err != nil {
		return nil, a.c.wrap("list topics", "", err)
	}
	out := make([]TopicSummary, 0, len(md))
	for _, d := range md {
		if d.Err != nil {
			return nil, a.c.wrap("list topics", d.Topic, d.Err)
		}
		out = append(out, TopicSummary{Name: d.Topic, ID: formatTopicID(d.ID), Partitions: len(d.Partitions)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DescribeTopic returns a topic's partitions (leaders, log start and end
// offsets) and configs.
func (a *Admin) DescribeTopic(ctx context.Context, name string) (TopicInfo, error) {
	const op = "describe topic"
	md, err := a.c.adm.ListTopics(ctx, name)
	if err != nil {
		return TopicInfo{}, a.c.wrap(op, name, err)
	}
	d, ok := md[name]
	if !ok {
		return TopicInfo{}, a.c.wrap(op, name, kerr.UnknownTopicOrPartition)
	}
	if d.Err != nil {
		return TopicInfo{}, a.c.wrap(op, name, d.Err)
	}
	starts, err := a.c.adm.ListStartOffsets(ctx, name)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return TopicInfo{}, a.c.wrap(op, name, err)
	}
	ends, err := a.c.adm.ListEndOffsets(ctx, name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return TopicInfo{}, a.c.wrap(op, name, err)
	}
	info := TopicInfo{Name: name, ID: formatTopicID(d.ID)}
	for _, p := range d.Partitions.Sorted() {
		pi := PartitionInfo{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch}
		if o, ok := starts.Lookup(name, p.Partition); ok {
			pi.LogStartOffset = o.Offset
		}
		if o, ok := ends.Lookup(name, p.Partition); ok {
			pi.HighWatermark = o.Offset
		}
		info.Partitions = append(info.Partitions, pi)
	}
	rcs, err := a.c.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return TopicInfo{}, a.c.wrap(op, name, err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return TopicInfo{}, a.c.wrap(op, name, withMessage(rc.Err, rc.ErrMessage))
		}
		for _, c := range rc.Configs {
			info.Configs = append(info.Configs, ConfigEntry{
				Name: c.Key, Value: c.MaybeValue(), Source: configSource(c.Source), Sensitive: c.Sensitive,
			})
		}
	}
	sort.Slice(info.Configs, func(i, j int) bool { return info.Configs[i].Name < info.Configs[j].Name })
	return info, nil
}

// DeleteTopic deletes a topic and its records.
func (a *Admin) DeleteTopic(ctx context.Context, name string) error {
	resp, err := a.c.adm.DeleteTopic(ctx, name)
	return a.c.wrap("delete topic", name, withMessage(err, resp.ErrMessage))
}

// AlterTopicConfigs sets the configs in set and removes those in remove
// (back to their defaults), leaving the others as they are.
func (a *Admin) AlterTopicConfigs(ctx context.Context, name string, set map[string]string, remove []string) error {
	var alter []kadm.AlterConfig
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(set[k])})
	}
	for _, k := range remove {
		alter = append(alter, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(alter) == 0 {
		return nil
	}
	resps, err := a.c.adm.AlterTopicConfigs(ctx, alter, name)
	if err != nil {
		return a.c.wrap("alter topic configs", name, err)
	}
	for _, r := range resps {
		if r.Err != nil {
			return a.c.wrap("alter topic configs", name, withMessage(r.Err, r.ErrMessage))
		}
	}
	return nil
}

// GroupSummary is a group as ListGroups reports it.
type GroupSummary struct {
	Name         string `json:"name"`
	State        string `json:"state"`         // Empty, Stable, PreparingRebalance, ...
	ProtocolType string `json:"protocol_type"` // "consumer" for Kafka consumers
}

// GroupMember is a member of a group.
type GroupMember struct {
	ID       string             `json:"id"`
	ClientID string             `json:"client_id"`
	Host     string             `json:"host"`
	Assigned map[string][]int32 `json:"assigned"`
}

// GroupOffset is a group's position in one partition.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1 when nothing is committed
	LogEnd    int64  `json:"log_end"`   // high watermark
	Lag       int64  `json:"lag"`       // records not yet processed; -1 when unknown
	MemberID  string `json:"member_id,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
}

// GroupInfo is what DescribeGroup reports.
type GroupInfo struct {
	Name         string        `json:"name"`
	State        string        `json:"state"`
	ProtocolType string        `json:"protocol_type"`
	Protocol     string        `json:"protocol"` // the partition assignor
	Members      []GroupMember `json:"members"`
	Offsets      []GroupOffset `json:"offsets"` // sorted by topic and partition
	TotalLag     int64         `json:"total_lag"`
}

// ListGroups lists the consumer groups, sorted by name.
func (a *Admin) ListGroups(ctx context.Context) ([]GroupSummary, error) {
	lg, err := a.c.adm.ListGroups(ctx)
	if err != nil {
		return nil, a.c.wrap("list groups", "", err)
	}
	out := make([]GroupSummary, 0, len(lg))
	for _, g := range lg.Sorted() {
		out = append(out, GroupSummary{Name: g.Group, State: g.State, ProtocolType: g.ProtocolType})
	}
	return out, nil
}

// DescribeGroup returns a group's state, members, and committed offsets
// with the lag of each partition. A group that does not exist is
// ErrUnknownGroup.
func (a *Admin) DescribeGroup(ctx context.Context, name string) (GroupInfo, error) {
	const op = "describe group"
	lags, err := a.c.adm.Lag(ctx, name)
	if err != nil {
		return GroupInfo{}, a.c.wrap(op, name, err)
	}
	l, ok := lags[name]
	if !ok {
		return GroupInfo{}, a.c.wrap(op, name, kerr.GroupIDNotFound)
	}
	if err := l.Error(); err != nil {
		return GroupInfo{}, a.c.wrap(op, name, err)
	}
	if l.State == "Dead" && len(l.Lag) == 0 {
		return GroupInfo{}, a.c.wrap(op, name, kerr.GroupIDNotFound)
	}
	info := GroupInfo{Name: name, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol}
	for _, m := range l.Members {
		gm := GroupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				gm.Assigned[t.Topic] = ps
			}
		}
		info.Members = append(info.Members, gm)
	}
	for _, ml := range l.Lag.Sorted() {
		o := GroupOffset{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, LogEnd: ml.End.Offset, Lag: ml.Lag}
		if o.Committed < 0 {
			// Where a group never committed, where it would start
			// depends on its consumers' reset policy: the lag is
			// unknown, as Kafka's tools print it.
			o.Lag = -1
		}
		if ml.Member != nil {
			o.MemberID, o.ClientID = ml.Member.MemberID, ml.Member.ClientID
		}
		if o.Lag > 0 {
			info.TotalLag += o.Lag
		}
		info.Offsets = append(info.Offsets, o)
	}
	return info, nil
}

// OffsetReset is one partition's committed offset before and after
// ResetGroupOffsets.
type OffsetReset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"` // -1 when nothing was committed
	To        int64  `json:"to"`
}

// ResetGroupOffsets moves a group's committed offsets in topic to a
// position: every partition, or those listed. An offset is clamped to the
// partition's [log start, high watermark]. The group must have no active
// members (ErrGroupNotEmpty otherwise): stop its consumers first. It is
// PlanOffsetReset followed by ApplyOffsetReset.
func (a *Admin) ResetGroupOffsets(ctx context.Context, group, topic string, to Position, partitions ...int32) ([]OffsetReset, error) {
	plan, err := a.PlanOffsetReset(ctx, group, []string{topic}, ResetTo(to), partitions...)
	if err != nil {
		return nil, err
	}
	if err := a.ApplyOffsetReset(ctx, group, plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// resolve turns a position into an offset for each partition of topic.
func (a *Admin) resolve(ctx context.Context, topic string, to Position) (map[int32]int64, error) {
	const op = "list offsets"
	list := func(f func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
		lo, err := f(ctx, topic)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			return nil, a.c.wrap(op, topic, err)
		}
		out := make(map[int32]int64)
		for p, o := range lo[topic] {
			out[p] = o.Offset
		}
		return out, nil
	}
	switch to.kind {
	case posBeginning:
		return list(a.c.adm.ListStartOffsets)
	case posEnd:
		return list(a.c.adm.ListEndOffsets)
	case posFromEnd:
		starts, err := list(a.c.adm.ListStartOffsets)
		if err != nil {
			return nil, err
		}
		ends, err := list(a.c.adm.ListEndOffsets)
		if err != nil {
			return nil, err
		}
		for p, e := range ends {
			ends[p] = max(e-to.offset, starts[p])
		}
		return ends, nil
	case posTime:
		at, err := list(func(ctx context.Context, ts ...string) (kadm.ListedOffsets, error) {
			return a.c.adm.ListOffsetsAfterMilli(ctx, to.time.UnixMilli(), ts...)
		})
		if err != nil {
			return nil, err
		}
		ends, err := list(a.c.adm.ListEndOffsets)
		if err != nil {
			return nil, err
		}
		for p, o := range at {
			if o < 0 {
				at[p] = ends[p]
			}
		}
		return at, nil
	}
	starts, err := list(a.c.adm.ListStartOffsets)
	if err != nil {
		return nil, err
	}
	ends, err := list(a.c.adm.ListEndOffsets)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(starts))
	for p, s := range starts {
		out[p] = min(max(to.offset, s), ends[p])
	}
	return out, nil
}

// DeleteGroup deletes a group and its committed offsets. The group must
// have no active members.
func (a *Admin) DeleteGroup(ctx context.Context, name string) error {
	resp, err := a.c.adm.DeleteGroup(ctx, name)
	return a.c.wrap("delete group", name, withMessage(err, resp.ErrMessage))
}

// Broker is a broker as the Kafka protocol describes it.
type Broker struct {
	ID      int32  `json:"id"`
	Host    string `json:"host"`
	Port    int32  `json:"port"`
	Rack    string `json:"rack,omitempty"` // zone, when the broker reports one
	Leaders int    `json:"leaders"`        // partitions it leads
}

// ClusterInfo is what the Kafka protocol tells about a cluster.
type ClusterInfo struct {
	ID         string   `json:"cluster_id"`
	Controller int32    `json:"controller"`
	Brokers    []Broker `json:"brokers"` // sorted by id
	Topics     int      `json:"topics"`
	Partitions int      `json:"partitions"`
	// Leaderless counts partitions without a leader.
	Leaderless int `json:"leaderless"`
}

// Cluster describes the brokers and counts topics, partitions and the
// partitions each broker leads.
func (a *Admin) Cluster(ctx context.Context) (ClusterInfo, error) {
	md, err := a.c.adm.Metadata(ctx)
	if err != nil {
		return ClusterInfo{}, a.c.wrap("describe cluster", "", err)
	}
	info := ClusterInfo{ID: md.Cluster, Controller: md.Controller}
	leaders := make(map[int32]int)
	for _, t := range md.Topics {
		if t.IsInternal || t.Err != nil {
			continue
		}
		info.Topics++
		for _, p := range t.Partitions {
			info.Partitions++
			if p.Leader < 0 {
				info.Leaderless++
				continue
			}
			leaders[p.Leader]++
		}
	}
	for _, b := range md.Brokers {
		br := Broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Leaders: leaders[b.NodeID]}
		if b.Rack != nil {
			br.Rack = *b.Rack
		}
		info.Brokers = append(info.Brokers, br)
	}
	sort.Slice(info.Brokers, func(i, j int) bool { return info.Brokers[i].ID < info.Brokers[j].ID })
	return info, nil
}

// withMessage adds a broker's error message to err, when it says more.
func withMessage(err error, msg string) error {
	if err == nil || msg == "" || strings.Contains(err.Error(), msg) {
		return err
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

func configSource(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig, kmsg.ConfigSourceStaticBrokerConfig:
		return "broker"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return "unknown"
}

// formatTopicID writes a topic id as a UUID; the zero id is "".
func formatTopicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}
