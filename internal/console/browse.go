package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sizes of the message browser. The first fetch is small, later
// ones sized from the records seen so far to what is left of the scan
// bound: a broker returns whole batches, so the records read from it are
// at most the scan bound plus the rest of the last batch.
const (
	firstFetchBytes = 16 << 10
	maxFetchBytes   = 1 << 20
	browseTimeout   = 8 * time.Second
)

// browseQuery is what the message browser's form asks.
type browseQuery struct {
	Partition int32
	From      string // end, beginning, offset, timestamp
	Offset    int64
	Timestamp string
	Filter    string
	Format    string // auto, text, json, hex
}

type message struct {
	Offset    int64
	Timestamp time.Time
	Key       shown
	Value     shown
	Headers   []header
}

type header struct {
	Key   string
	Value shown
}

// shown is a key or value formatted for the page: text, pretty JSON or
// hex. It is always put into the page as text, escaped.
type shown struct {
	Text string
	As   string // "text", "json", "hex" or "null"
	Size int
}

type messagesData struct {
	Topic      string
	Partitions []int32
	Query      browseQuery
	Messages   []message
	Start      int64 // first offset scanned
	Next       int64 // offset after the last scanned
	LogStart   int64
	HighWater  int64
	Scanned    int // records examined
	Fetched    int // records the broker returned (whole batches)
	ShowMax    int
	MaxScan    int
	Truncated  bool // the scan bound stopped the scan before the end
}

func (c *Console) messages(w http.ResponseWriter, r *http.Request) {
	q := browseQuery{From: r.FormValue("from"), Timestamp: r.FormValue("timestamp"), Filter: r.FormValue("filter"), Format: r.FormValue("format")}
	if q.From == "" {
		q.From = "end"
	}
	if q.Format == "" {
		q.Format = "auto"
	}
	if v := r.FormValue("partition"); v != "" {
		p, err := strconv.ParseInt(v, 10, 32)
		if err != nil || p < 0 {
			c.fail(w, http.StatusBadRequest, "topics", fmt.Errorf("partition %q: want a number >= 0", v))
			return
		}
		q.Partition = int32(p)
	}
	if v := r.FormValue("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			c.fail(w, http.StatusBadRequest, "topics", fmt.Errorf("offset %q: want a number >= 0", v))
			return
		}
		q.Offset = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), browseTimeout)
	defer cancel()
	d, err := c.browse(ctx, r.PathValue("topic"), q)
	var bad badQuery
	switch {
	case errors.As(err, &bad):
		c.fail(w, http.StatusBadRequest, "topics", err)
		return
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		c.fail(w, http.StatusNotFound, "topics", err)
		return
	case err != nil:
		c.fail(w, http.StatusServiceUnavailable, "topics", err)
		return
	}
	c.render(w, 0, "messages", page{Title: "Messages of " + d.Topic, Section: "topics", Data: d})
}

type badQuery struct{ error }

// browse reads at most MaxScan records of one partition from the broker
// and keeps at most ShowMax of those that pass the filter.
func (c *Console) browse(ctx context.Context, topic string, q browseQuery) (*messagesData, error) {
	kc, err := c.franz(ctx)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(kc)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		if ok {
			return nil, td.Err
		}
		return nil, kerr.UnknownTopicOrPartition
	}
	d := &messagesData{Topic: topic, Query: q, ShowMax: ShowMax, MaxScan: c.cfg.MaxScan}
	for p := range td.Partitions {
		d.Partitions = append(d.Partitions, p)
	}
	slices.Sort(d.Partitions)
	pd, ok := td.Partitions[q.Partition]
	if !ok {
		return nil, badQuery{fmt.Errorf("topic %s has no partition %d", topic, q.Partition)}
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	so, _ := starts.Lookup(topic, q.Partition)
	eo, _ := ends.Lookup(topic, q.Partition)
	if err := errors.Join(so.Err, eo.Err); err != nil {
		return nil, err
	}
	d.LogStart, d.HighWater = so.Offset, eo.Offset
	keepLast := false
	start := d.LogStart
	switch q.From {
	case "beginning":
	case "offset":
		start = min(max(q.Offset, d.LogStart), d.HighWater)
	case "timestamp":
		t, err := parseTime(q.Timestamp)
		if err != nil {
			return nil, badQuery{err}
		}
		lo, err := adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
		if err != nil {
			return nil, err
		}
		o, _ := lo.Lookup(topic, q.Partition)
		if o.Err != nil {
			return nil, o.Err
		}
		start = d.HighWater
		if o.Offset >= 0 {
			start = min(max(o.Offset, d.LogStart), d.HighWater)
		}
	case "end":
		// The last records: without a filter the last ShowMax, with one
		// the last matches among the last MaxScan.
		keepLast = true
		window := int64(ShowMax)
		if q.Filter != "" {
			window = int64(c.cfg.MaxScan)
		}
		start = max(d.LogStart, d.HighWater-window)
	default:
		return nil, badQuery{fmt.Errorf("from %q: want end, beginning, offset or timestamp", q.From)}
	}
	d.Start, d.Next = start, start
	filter := []byte(q.Filter)
	leader := kc.Broker(int(pd.Leader))
	if pd.Leader < 0 {
		leader = kc.SeedBrokers()[0]
	}
	offset := start
	fetchBytes := int32(firstFetchBytes)
	for offset < d.HighWater && d.Scanned < c.cfg.MaxScan {
		if !keepLast && len(d.Messages) >= ShowMax {
			break
		}
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = fetchBytes
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, td.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = q.Partition, offset, fetchBytes
		rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := leader.Request(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return nil, errors.New("fetch: the broker answered for another partition")
		}
		part := &resp.Topics[0].Partitions[0]
		batchRecords, batchBytes := 0, 0
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: offset, Topic: topic, Partition: q.Partition},
			part, kgo.DefaultDecompressor(), func(m kgo.FetchBatchMetrics) {
				batchRecords += m.NumRecords
				batchBytes += m.CompressedBytes
			})
		d.Fetched += batchRecords
		c.fetchedRecords.Add(float64(batchRecords))
		if fp.Err != nil {
			return nil, fmt.Errorf("fetch: %w", fp.Err)
		}
		if len(fp.Records) == 0 {
			break // nothing more readable below the high watermark now
		}
		for _, rec := range fp.Records {
			if d.Scanned >= c.cfg.MaxScan || rec.Offset >= d.HighWater || (!keepLast && len(d.Messages) >= ShowMax) {
				break
			}
			d.Scanned++
			offset = rec.Offset + 1
			if len(filter) > 0 && !bytes.Contains(rec.Key, filter) && !bytes.Contains(rec.Value, filter) {
				continue
			}
			d.Messages = append(d.Messages, toMessage(rec, q.Format))
			if keepLast && len(d.Messages) > ShowMax {
				d.Messages = d.Messages[1:]
			}
		}
		// Size the next fetch to what is left of the bound.
		if batchRecords > 0 {
			per := max(batchBytes/batchRecords, 1)
			left := c.cfg.MaxScan - d.Scanned
			if !keepLast {
				left = min(left, ShowMax-len(d.Messages))
			}
			fetchBytes = int32(min(max(left*per, 1024), maxFetchBytes))
		}
	}
	d.Next = offset
	d.Truncated = d.Scanned >= c.cfg.MaxScan && offset < d.HighWater
	return d, nil
}

func toMessage(r *kgo.Record, format string) message {
	m := message{Offset: r.Offset, Timestamp: r.Timestamp, Key: show(r.Key, format), Value: show(r.Value, format)}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, header{Key: h.Key, Value: show(h.Value, format)})
	}
	return m
}

// show formats b: auto picks pretty JSON for a JSON object or array, text
// for printable UTF-8, hex otherwise.
func show(b []byte, format string) shown {
	if b == nil {
		return shown{As: "null"}
	}
	s := shown{Size: len(b)}
	switch format {
	case "hex":
		s.Text, s.As = hex.Dump(b), "hex"
		return s
	case "text":
		s.Text, s.As = strings.ToValidUTF8(string(b), "\uFFFD"), "text"
		return s
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
		var out bytes.Buffer
		if json.Indent(&out, trimmed, "", "  ") == nil {
			s.Text, s.As = out.String(), "json"
			return s
		}
	}
	if format == "json" || printable(b) {
		s.Text, s.As = string(b), "text"
		if !utf8.Valid(b) {
			s.Text = strings.ToValidUTF8(s.Text, "\uFFFD")
		}
		return s
	}
	s.Text, s.As = hex.Dump(b), "hex"
	return s
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
