package ingest

import "time"

// sealPolicy decides when the open segment is sealed. There is one rule,
// governed by the PUT budget: a segment is sealed as soon as no upload is
// in flight and the budget allows another PUT, or at once when it is
// full.
//
// No upload in flight: a segment sealed while another uploads would only
// queue behind it for the commit, which keeps seal order, and it would
// cost a PUT; the segment that fills meanwhile is sealed when the upload
// finishes, so at high load segments grow with the PUT time and at low
// load a produce is acknowledged after about one PUT and one commit.
//
// The budget: at most one seal per interval (1/Config.PutBudget), counted
// from the previous seal, whatever sealed it. A segment that arrives when
// the budget is spent waits for it; one that arrives after a quiet spell is
// sealed at once. Full segments are sealed whatever the budget: past
// Config.SegmentMaxBytes the bytes, not the budget, set the PUT rate, and
// a segment must not grow past what a reader accepts.
//
// The policy has no clock of its own: the Ingester passes the time in, so
// that it can be tested without waiting.
type sealPolicy struct {
	interval time.Duration // 0: no budget
	maxBytes int
	last     time.Time // the previous seal; zero before the first
}

// decide says what to do with an open segment of bytes bytes while
// uploading uploads are in flight: seal it now (reason sealSize or
// sealIdle), or not yet. When not yet, wait > 0 is how long until the
// budget allows the seal; wait == 0 means nothing but an event can change
// the answer (bytes added, an upload finished).
func (p *sealPolicy) decide(now time.Time, bytes, uploading int) (reason string, wait time.Duration) {
	switch {
	case bytes <= 0:
		return "", 0
	case bytes >= p.maxBytes:
		return sealSize, 0
	case uploading > 0:
		return "", 0
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
