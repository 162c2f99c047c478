package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// NotifyChannel is the PostgreSQL NOTIFY channel on which every segment
// commit announces the new next offsets (high watermarks) of the partitions
// it advanced. Notifications are sent when, and only if, the commit succeeds.
const NotifyChannel = "strata_commit"

// maxNotifyPayload keeps each payload under PostgreSQL's 8000-byte limit.
const maxNotifyPayload = 7900

// HighWatermark is a partition's next offset after a commit.
type HighWatermark struct {
	TopicID    uuid.UUID
	Partition  int32
	NextOffset int64
}

// Payload format, chosen to be short: groups separated by ';', each group a
// topic id as 32 lowercase hex digits, '/', then comma-separated
// partition:next_offset pairs in decimal:
//
//	0f8e...9a/0:120,3:98;77ab...01/2:5

// encodeNotifications encodes hws, grouped by consecutive equal topic ids,
// into payloads of at most maxLen bytes each.
func encodeNotifications(hws []HighWatermark, maxLen int) []string {
	var out []string
	var b strings.Builder
	var topic uuid.UUID
	for _, hw := range hws {
		pair := strconv.FormatInt(int64(hw.Partition), 10) + ":" + strconv.FormatInt(hw.NextOffset, 10)
		sameTopic := b.Len() > 0 && hw.TopicID == topic
		need := len(pair) + 1
		if !sameTopic {
			need += 33 // separator, 32 hex digits, '/'
		}
		if b.Len() > 0 && b.Len()+need > maxLen {
			out = append(out, b.String())
			b.Reset()
			sameTopic = false
		}
		switch {
		case sameTopic:
			b.WriteByte(',')
		case b.Len() > 0:
			b.WriteByte(';')
			fallthrough
		default:
			var h [32]byte
			hex.Encode(h[:], hw.TopicID[:])
			b.Write(h[:])
			b.WriteByte('/')
		}
		topic = hw.TopicID
		b.WriteString(pair)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

var errBadNotification = errors.New("malformed commit notification")

// ParseNotification decodes the payload of a NotifyChannel notification.
func ParseNotification(payload string) ([]HighWatermark, error) {
	var out []HighWatermark
	for group := range strings.SplitSeq(payload, ";") {
		topicHex, pairs, ok := strings.Cut(group, "/")
		if !ok || len(topicHex) != 32 {
			return nil, fmt.Errorf("%w: group %q", errBadNotification, group)
		}
		var id uuid.UUID
		if _, err := hex.Decode(id[:], []byte(topicHex)); err != nil || strings.ToLower(topicHex) != topicHex {
			return nil, fmt.Errorf("%w: topic id %q", errBadNotification, topicHex)
		}
		for pair := range strings.SplitSeq(pairs, ",") {
			ps, ns, ok := strings.Cut(pair, ":")
			if !ok {
				return nil, fmt.Errorf("%w: pair %q", errBadNotification, pair)
			}
			p, err := parseDecimal(ps, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: partition %q", errBadNotification, ps)
			}
			n, err := parseDecimal(ns, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: offset %q", errBadNotification, ns)
			}
			out = append(out, HighWatermark{TopicID: id, Partition: int32(p), NextOffset: n})
		}
	}
	return out, nil
}

// parseDecimal parses a non-negative decimal without sign or leading zeros,
// so that every value has one spelling.
func parseDecimal(s string, bitSize int) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' || (len(s) > 1 && s[0] == '0') {
		return 0, errBadNotification
	}
	return strconv.ParseInt(s, 10, bitSize)
}

// ListenCommits calls fn with the high watermarks of every commit that any
// node makes, until ctx ends or the connection fails. It holds one
// connection of its own. fn runs on the listening goroutine and should not
// block. Commits made while no listener is connected are not replayed.
func (s *Store) ListenCommits(ctx context.Context, fn func([]HighWatermark)) error {
	return s.listenCommits(ctx, nil, fn)
}

// listenCommits is ListenCommits; it closes listening, when not nil, once
// notifications are being received.
func (s *Store) listenCommits(ctx context.Context, listening chan<- struct{}, fn func([]HighWatermark)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen commits: %w", err)
	}
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return fmt.Errorf("listen commits: %w", err)
	}
	if listening != nil {
		close(listening)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("listen commits: %w", err)
		}
		hws, err := ParseNotification(n.Payload)
		if err != nil {
			s.logger.Warn("ignoring commit notification", "err", err)
			continue
		}
		fn(hws)
	}
}
