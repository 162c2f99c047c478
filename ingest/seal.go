package ingest

import "time"

// sealPolicy decides when the open segment is sealed. There is one rule,
// governed by the PUT budget: a segment is sealed as soon as nothing is in
// flight and the budget allows another PUT, or when it is full.
//
// Nothing in flight: no sealed segment is uploading or waiting for its
// commit to start (one may be committing). A segment sealed earlier would
// only queue behind them, since commits run in seal order; the segment
// that fills meanwhile is sealed as soon as the queue moves, so at low load
// a produce is acknowledged after about one PUT and one commit, and at
// high load segments grow with the PUT and commit times instead of piling
// up in the commit queue.
//
// The budget: at most one seal per interval (1/Config.PutBudget), counted
// from the previous seal, whatever sealed it. A segment that arrives when
// the budget is spent waits for it; one that arrives after a quiet spell is
// sealed at once. The budget is for small segments, whose PUTs cost more
// than their bytes are worth: a segment of at least half of
// Config.SegmentMaxBytes is sealed as soon as nothing is in flight, and a
// full one at once, whatever the budget. Past half a segment per interval
// the bytes, not the budget, set the PUT rate, at most twice the rate of
// full segments; below it the budget alone does. Without the half-full
// rule, producers that wait for their acks (a Kafka client's few requests
// in flight) and hold less than a segment get one segment per interval:
// BenchmarkIngestAppend with 1,024 appends in flight made 118,837
// records/s at the default budget without it and 314,107 with it, where
// the flush timer and its quiet rule made 335,444 side by side.
//
// The policy has no clock of its own: the Ingester passes the time in, so
// that it can be tested without waiting.
type sealPolicy struct {
	interval time.Duration // 0: no budget
	maxBytes int
	last     time.Time // the previous seal; zero before the first
}

// decide says what to do with an open segment of bytes bytes while
// inFlight sealed segments are uploading or waiting for their commit: seal
// it now (reason sealSize, sealHalf or sealIdle), or not yet. When not
// yet, wait > 0 is how long until the budget allows the seal; wait == 0
// means nothing but an event can change the answer (bytes added, the
// queue moved).
func (p *sealPolicy) decide(now time.Time, bytes, inFlight int) (reason string, wait time.Duration) {
	switch {
	case bytes <= 0:
		return "", 0
	case bytes >= p.maxBytes:
		return sealSize, 0
	case inFlight > 0:
		return "", 0
	case bytes >= p.maxBytes/2:
		return sealHalf, 0
	}
	if p.interval > 0 && !p.last.IsZero() {
		if w := p.last.Add(p.interval).Sub(now); w > 0 {
			return "", w
		}
	}
	return sealIdle, 0
}

// sealed records a seal at now, whatever its reason.
func (p *sealPolicy) sealed(now time.Time) { p.last = now }
