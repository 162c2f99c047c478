package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ResetTarget is where ResetGroupOffsets moves a group's offsets: a
// Position, or relative to what the group committed (ShiftBy, ToCurrent).
type ResetTarget struct {
	pos     Position
	shift   int64
	current bool // ToCurrent or ShiftBy: from the committed offsets
}

// ResetTo moves to a position of each partition.
func ResetTo(p Position) ResetTarget { return ResetTarget{pos: p} }

// ShiftBy moves each committed offset by n (negative: back), clamped to the
// partition's range. A partition the group never committed is an error, as
// with kafka-consumer-groups.
func ShiftBy(n int64) ResetTarget { return ResetTarget{shift: n, current: true} }

// ToCurrent keeps each committed offset, and commits the log end where the
// group has none.
func ToCurrent() ResetTarget { return ResetTarget{current: true} }

// PlanOffsetReset says what ResetGroupOffsets would commit, without
// committing: for each topic, every partition or those listed. With no
// topics, the topics the group has committed offsets for.
func (a *Admin) PlanOffsetReset(ctx context.Context, group string, topics []string, to ResetTarget, partitions ...int32) ([]OffsetReset, error) {
	const op = "plan offset reset"
	current, err := a.c.adm.FetchOffsets(ctx, group)
	if err == nil {
		err = current.Error()
	}
	if err != nil {
		return nil, a.c.wrap(op, group, err)
	}
	if len(topics) == 0 {
		for t := range current {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		if len(topics) == 0 {
			return nil, a.c.wrap(op, group, errors.New("the group has no committed offsets; name the topics"))
		}
	}
	var out []OffsetReset
	for _, topic := range topics {
		bounds, err := a.bounds(ctx, topic)
		if err != nil {
			return nil, err
		}
		var targets map[int32]int64
		if !to.current {
			if targets, err = a.resolve(ctx, topic, to.pos); err != nil {
				return nil, err
			}
		} else {
			targets = make(map[int32]int64, len(bounds))
			for p, b := range bounds {
				cur, ok := current.Lookup(topic, p)
				switch {
				case ok && cur.Err == nil && cur.At >= 0:
					targets[p] = min(max(cur.At+to.shift, b.start), b.end)
				case to.shift != 0:
					if len(partitions) == 0 || slices.Contains(partitions, p) {
						return nil, a.c.wrap(op, group, fmt.Errorf("cannot shift %s/%d: the group has no committed offset there", topic, p))
					}
				default:
					targets[p] = b.end
				}
			}
		}
		for _, p := range partitions {
			if _, ok := bounds[p]; !ok {
				return nil, a.c.wrap(op, topic, fmt.Errorf("%w: partition %d", kerr.UnknownTopicOrPartition, p))
			}
		}
		for p, off := range targets {
			if len(partitions) > 0 && !slices.Contains(partitions, p) {
				continue
			}
			r := OffsetReset{Topic: topic, Partition: p, From: -1, To: off}
			if cur, ok := current.Lookup(topic, p); ok && cur.Err == nil {
				r.From = cur.At
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// ApplyOffsetReset commits a plan of PlanOffsetReset. The group must have
// no active members (ErrGroupNotEmpty otherwise): stop its consumers first.
func (a *Admin) ApplyOffsetReset(ctx context.Context, group string, plan []OffsetReset) error {
	const op = "reset group offsets"
	described, err := a.c.adm.DescribeGroups(ctx, group)
	if err != nil {
		return a.c.wrap(op, group, err)
	}
	if d, ok := described[group]; ok {
		if d.Err != nil {
			return a.c.wrap(op, group, d.Err)
		}
		if len(d.Members) > 0 {
			return a.c.wrap(op, group, fmt.Errorf("%w: %d active members", kerr.NonEmptyGroup, len(d.Members)))
		}
	}
	offsets := make(kadm.Offsets)
	for _, r := range plan {
		offsets.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.To, LeaderEpoch: -1})
	}
	if err := a.c.adm.CommitAllOffsets(ctx, group, offsets); err != nil {
		return a.c.wrap(op, group, err)
	}
	return nil
}

// DeleteGroupOffsets removes a group's committed offsets in topic: every
// partition, or those listed (OffsetDelete). The group must not be
// consuming the topic.
func (a *Admin) DeleteGroupOffsets(ctx context.Context, group, topic string, partitions ...int32) error {
	const op = "delete group offsets"
	if len(partitions) == 0 {
		bounds, err := a.bounds(ctx, topic)
		if err != nil {
			return err
		}
		for p := range bounds {
			partitions = append(partitions, p)
		}
	}
	s := make(kadm.TopicsSet)
	s.Add(topic, partitions...)
	resps, err := a.c.adm.DeleteOffsets(ctx, group, s)
	if err != nil {
		return a.c.wrap(op, group, err)
	}
	if err := resps.Error(); err != nil {
		return a.c.wrap(op, group, err)
	}
	return nil
}

// AddPartitions grows a topic to total partitions (CreatePartitions).
// Partitions are never removed.
func (a *Admin) AddPartitions(ctx context.Context, topic string, total int32) error {
	const op = "add partitions"
	resps, err := a.c.adm.UpdatePartitions(ctx, int(total), topic)
	if err != nil {
		return a.c.wrap(op, topic, err)
	}
	r, ok := resps[topic]
	if !ok {
		return a.c.wrap(op, topic, kerr.UnknownTopicOrPartition)
	}
	return a.c.wrap(op, topic, withMessage(r.Err, r.ErrMessage))
}

// RecordsDeleted is one partition's log start offset after DeleteRecords.
type RecordsDeleted struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	LogStartOffset int64  `json:"log_start_offset"`
}

// DeleteRecords removes the records before an offset: in every partition
// of topic, or in those listed (kafka-delete-records). An offset past the
// high watermark is an error; -1 means the high watermark (everything).
func (a *Admin) DeleteRecords(ctx context.Context, topic string, before int64, partitions ...int32) ([]RecordsDeleted, error) {
	const op = "delete records"
	bounds, err := a.bounds(ctx, topic)
	if err != nil {
		return nil, err
	}
	if len(partitions) == 0 {
		for p := range bounds {
			partitions = append(partitions, p)
		}
	}
	offsets := make(kadm.Offsets)
	for _, p := range partitions {
		if _, ok := bounds[p]; !ok {
			return nil, a.c.wrap(op, topic, fmt.Errorf("%w: partition %d", kerr.UnknownTopicOrPartition, p))
		}
		offsets.Add(kadm.Offset{Topic: topic, Partition: p, At: before, LeaderEpoch: -1})
	}
	resps, err := a.c.adm.DeleteRecords(ctx, offsets)
	if err != nil {
		return nil, a.c.wrap(op, topic, err)
	}
	var out []RecordsDeleted
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			return nil, a.c.wrap(op, topic, fmt.Errorf("partition %d: %w", r.Partition, r.Err))
		}
		out = append(out, RecordsDeleted{Topic: r.Topic, Partition: r.Partition, LogStartOffset: r.LowWatermark})
	}
	return out, nil
}

// partitionBounds is a partition's log start offset and high watermark.
type partitionBounds struct{ start, end int64 }

// bounds lists the partitions of topic with their offset range.
func (a *Admin) bounds(ctx context.Context, topic string) (map[int32]partitionBounds, error) {
	starts, err := a.resolve(ctx, topic, Beginning())
	if err != nil {
		return nil, err
	}
	ends, err := a.resolve(ctx, topic, End())
	if err != nil {
		return nil, err
	}
	out := make(map[int32]partitionBounds, len(starts))
	for p, s := range starts {
		out[p] = partitionBounds{s, ends[p]}
	}
	return out, nil
}
