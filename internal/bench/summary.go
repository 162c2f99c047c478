package bench

import (
	"fmt"
	"io"
	"strings"
)

// Summary is the outcome of one run. Rates are over Seconds, the time from
// the first send to the last ack (or last consumed record).
type Summary struct {
	Mode        string  `json:"mode"`
	Topic       string  `json:"topic"`
	Partitions  int     `json:"partitions"`
	RecordSize  int     `json:"record_size"`
	Payload     string  `json:"payload"`
	Producers   int     `json:"producers"`
	Workers     int     `json:"workers,omitempty"`   // sync mode
	Consumers   int     `json:"consumers,omitempty"` // consume mode
	TargetRate  int     `json:"target_rate"`
	Acks        string  `json:"acks"`
	Compression string  `json:"compression"`
	Idempotent  bool    `json:"idempotent"`
	Seconds     float64 `json:"seconds"`
	// WarmupSeconds: latencies of records sent in the run's first seconds
	// are left out of the percentiles.
	WarmupSeconds float64 `json:"warmup_seconds,omitempty"`

	// Produced is the number of records acked (sent, for acks=0) and
	// ProduceErrors the number that failed.
	Produced       int64    `json:"produced"`
	ProduceErrors  int64    `json:"produce_errors"`
	ProducedBytes  int64    `json:"produced_bytes"`
	RecordsPerSec  float64  `json:"records_per_sec"`
	MBPerSec       float64  `json:"mb_per_sec"`
	ProduceLatency *Latency `json:"produce_latency,omitempty"`
	// FirstError is the first produce error of a sync run.
	FirstError string `json:"first_error,omitempty"`

	Consumed           int64    `json:"consumed"`
	ConsumedBytes      int64    `json:"consumed_bytes"`
	ConsumeRecsPerSec  float64  `json:"consume_records_per_sec"`
	ConsumeMBPerSec    float64  `json:"consume_mb_per_sec"`
	EndToEndLatency    *Latency `json:"end_to_end_latency,omitempty"`
	ConsumeFirstRecord float64  `json:"consume_first_record_ms,omitempty"`

	Server *ServerStats `json:"server,omitempty"`
}

// ServerStats are differences of Strata's own metrics between the start and
// the end of a run.
type ServerStats struct {
	ObjectPuts       float64 `json:"object_puts"`
	ObjectGets       float64 `json:"object_gets"`
	PutsPerSec       float64 `json:"puts_per_sec"`
	GetsPerSec       float64 `json:"gets_per_sec"`
	Segments         float64 `json:"segments_committed"`
	SegmentsPerSec   float64 `json:"segments_per_sec"`
	SegmentBytes     float64 `json:"segment_bytes"`
	CommitTxns       float64 `json:"commit_transactions"`
	CommitTxnsPerSec float64 `json:"commit_transactions_per_sec"`
	// TxnsPerSegment is commit transactions (retries included) per
	// committed segment: 1 when every segment takes one transaction.
	TxnsPerSegment float64 `json:"transactions_per_segment"`
	// StoredPerProduced is segment bytes written per record value byte
	// produced: below 1 when the segments compress the data.
	StoredPerProduced float64 `json:"stored_per_produced"`
	// UploadP99 and CommitP99 are upper bounds of the 99th percentile from
	// the server's histograms (bucket boundaries), in milliseconds.
	UploadP99 float64 `json:"upload_p99_ms,omitempty"`
	CommitP99 float64 `json:"commit_p99_ms,omitempty"`
	// AppendP99 bounds the server's own produce latency, from a batch's
	// arrival to its commit (the client's buffer not included).
	AppendP99 float64 `json:"append_p99_ms,omitempty"`
	// Seals counts sealed segments by reason (idle, budget, half, size,
	// memory, flush).
	Seals map[string]float64 `json:"seals,omitempty"`
}

// serverStats computes the server-side figures from two scrapes.
func serverStats(before, after Metrics, seconds float64, producedBytes int64) *ServerStats {
	d := func(name string, match map[string]string) float64 {
		return after.Sum(name, match) - before.Sum(name, match)
	}
	st := &ServerStats{
		ObjectPuts:   d("strata_objstore_requests_total", map[string]string{"op": "put"}),
		ObjectGets:   d("strata_objstore_requests_total", map[string]string{"op": "get"}) + d("strata_objstore_requests_total", map[string]string{"op": "get_range"}),
		Segments:     d("strata_ingest_segments_total", map[string]string{"result": "committed"}),
		SegmentBytes: d("strata_ingest_segment_bytes_sum", nil),
		CommitTxns:   d("strata_metastore_operation_seconds_count", map[string]string{"op": "commit_segment"}),
	}
	if seconds > 0 {
		st.PutsPerSec = st.ObjectPuts / seconds
		st.GetsPerSec = st.ObjectGets / seconds
		st.SegmentsPerSec = st.Segments / seconds
		st.CommitTxnsPerSec = st.CommitTxns / seconds
	}
	if st.Segments > 0 {
		st.TxnsPerSegment = st.CommitTxns / st.Segments
	}
	if producedBytes > 0 {
		st.StoredPerProduced = st.SegmentBytes / float64(producedBytes)
	}
	st.UploadP99 = 1000 * histQuantile(before, after, "strata_ingest_segment_upload_seconds", 0.99)
	st.CommitP99 = 1000 * histQuantile(before, after, "strata_ingest_segment_commit_seconds", 0.99)
	st.AppendP99 = 1000 * histQuantile(before, after, "strata_ingest_append_seconds", 0.99)
	for _, m := range after {
		if m.Name != "strata_ingest_seals_total" {
			continue
		}
		reason := m.Labels["reason"]
		if n := m.Value - before.Sum(m.Name, map[string]string{"reason": reason}); n > 0 {
			if st.Seals == nil {
				st.Seals = map[string]float64{}
			}
			st.Seals[reason] += n
		}
	}
	return st
}

// histQuantile returns the upper bound of the bucket holding quantile q of
// the observations a histogram received between two scrapes, or 0.
func histQuantile(before, after Metrics, name string, q float64) float64 {
	type bucket struct {
		le    float64
		count float64
	}
	var bs []bucket
	for _, s := range after {
		if s.Name != name+"_bucket" {
			continue
		}
		var le float64
		if _, err := fmt.Sscan(s.Labels["le"], &le); err != nil {
			continue
		}
		c := s.Value - before.Sum(s.Name, map[string]string{"le": s.Labels["le"]})
		bs = append(bs, bucket{le, c})
	}
	if len(bs) == 0 {
		return 0
	}
	total := bs[len(bs)-1].count
	for _, b := range bs {
		if b.count > total {
			total = b.count
		}
	}
	if total == 0 {
		return 0
	}
	for _, b := range bs { // exposition order is increasing le
		if b.count >= q*total {
			return b.le
		}
	}
	return bs[len(bs)-1].le
}

// WriteText prints the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	var b strings.Builder
	switch s.Mode {
	case ModeSync:
		s.syncHeader(&b)
	case ModeConsume:
		// A consume run sends nothing: no producer settings to report.
		fmt.Fprintf(&b, "%s: topic %s, %d partitions, %d consumer(s), %.1f s\n",
			s.Mode, s.Topic, s.Partitions, max(1, s.Consumers), s.Seconds)
	default:
		fmt.Fprintf(&b, "%s: topic %s, %d partitions, %d B %s records, %d producer(s), acks=%s, compression=%s, idempotent=%v, rate=%s, %.1f s\n",
			s.Mode, s.Topic, s.Partitions, s.RecordSize, s.Payload, s.Producers, s.Acks, s.Compression, s.Idempotent, rateString(s.TargetRate), s.Seconds)
	}
	if s.WarmupSeconds > 0 && s.Mode != "consume" {
		fmt.Fprintf(&b, "  latencies of records sent in the first %.1f s are left out (warm-up)\n", s.WarmupSeconds)
	}
	if s.Mode != "consume" {
		fmt.Fprintf(&b, "  produced   %d records (%d errors), %.0f records/s, %.2f MB/s\n", s.Produced, s.ProduceErrors, s.RecordsPerSec, s.MBPerSec)
		if s.FirstError != "" {
			fmt.Fprintf(&b, "  first error: %s\n", s.FirstError)
		}
		if l := s.ProduceLatency; l != nil {
			fmt.Fprintf(&b, "  produce latency ms  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
		}
	}
	if s.Mode != "produce" && s.Mode != ModeSync {
		by := ""
		if s.Consumers > 1 {
			by = fmt.Sprintf(" by %d consumers", s.Consumers)
		}
		fmt.Fprintf(&b, "  consumed   %d records%s, %.0f records/s, %.2f MB/s\n", s.Consumed, by, s.ConsumeRecsPerSec, s.ConsumeMBPerSec)
		if l := s.EndToEndLatency; l != nil {
			fmt.Fprintf(&b, "  end-to-end latency ms  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
		}
	}
	if st := s.Server; st != nil {
		fmt.Fprintf(&b, "  server     %.1f PUTs/s, %.1f GETs/s, %.1f segments/s, %.1f commit txns/s (%.2f per segment), %.3f bytes stored per byte produced\n",
			st.PutsPerSec, st.GetsPerSec, st.SegmentsPerSec, st.CommitTxnsPerSec, st.TxnsPerSegment, st.StoredPerProduced)
		if st.UploadP99 > 0 || st.CommitP99 > 0 {
			fmt.Fprintf(&b, "             segment upload p99 <= %.0f ms, commit p99 <= %.1f ms (histogram bounds)\n", st.UploadP99, st.CommitP99)
		}
	}
	io.WriteString(w, b.String())
}

func rateString(r int) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("%d/s", r)
}
