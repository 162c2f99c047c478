package ingest

import (
	"strings"
	"testing"
	"time"
)

// The seal policy's tests give it the time: no test here waits.

var t0 = time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)

func TestSealPolicyNoBudgetSealsWhenNoUploadInFlight(t *testing.T) {
	p := sealPolicy{maxBytes: 1 << 20}
	now := t0
	for n := range 100 {
		if why, wait := p.decide(now, 100, 0); why != sealIdle || wait != 0 {
			t.Fatalf("seal %d: decide = %q, %v; want an idle seal at once", n, why, wait)
		}
		p.sealed(now)
		now = now.Add(time.Microsecond)
	}
	if why, wait := p.decide(now, 0, 0); why != "" || wait != 0 {
		t.Fatalf("empty segment: decide = %q, %v; want nothing", why, wait)
	}
}

// TestSealPolicyUploadInFlightHoldsTheSegment: a segment uploading or
// waiting for its commit holds the next one back.
func TestSealPolicyUploadInFlightHoldsTheSegment(t *testing.T) {
	for _, interval := range []time.Duration{0, 250 * time.Millisecond} {
		p := sealPolicy{interval: interval, maxBytes: 1 << 20}
		p.sealed(t0)
		later := t0.Add(time.Hour) // the budget allows it long since
		if why, wait := p.decide(later, 100, 1); why != "" || wait != 0 {
			t.Fatalf("interval %v, a segment in flight: decide = %q, %v; want to wait for it", interval, why, wait)
		}
		if why, _ := p.decide(later, 100, 0); why != sealIdle {
			t.Fatalf("interval %v, upload finished: decide = %q; want an idle seal", interval, why)
		}
	}
}

func TestSealPolicyBudgetExhausted(t *testing.T) {
	p := sealPolicy{interval: 250 * time.Millisecond, maxBytes: 1 << 20}
	// The first segment, and one after a quiet spell, go at once.
	if why, _ := p.decide(t0, 100, 0); why != sealIdle {
		t.Fatalf("first segment: %q, want sealed at once", why)
	}
	p.sealed(t0)
	// 100 ms later the budget is spent: wait the 150 ms left.
	if why, wait := p.decide(t0.Add(100*time.Millisecond), 100, 0); why != "" || wait != 150*time.Millisecond {
		t.Fatalf("budget spent: decide = %q, %v; want to wait 150ms", why, wait)
	}
	if why, _ := p.decide(t0.Add(250*time.Millisecond), 100, 0); why != sealIdle {
		t.Fatalf("budget back: %q, want a seal", why)
	}
	p.sealed(t0.Add(250 * time.Millisecond))
	if why, _ := p.decide(t0.Add(10*time.Second), 100, 0); why != sealIdle {
		t.Fatalf("after a quiet spell: %q, want a seal at once", why)
	}
}

func TestSealPolicyFullSegmentIgnoresBudgetAndUploads(t *testing.T) {
	p := sealPolicy{interval: time.Hour, maxBytes: 1000}
	p.sealed(t0)
	if why, wait := p.decide(t0.Add(time.Millisecond), 1000, 3); why != sealSize || wait != 0 {
		t.Fatalf("full segment: decide = %q, %v; want a size seal at once", why, wait)
	}
	if why, _ := p.decide(t0.Add(time.Millisecond), 499, 0); why != "" {
		t.Fatalf("segment one byte under half full: %q, want it held by the budget", why)
	}
}

// TestSealPolicyHalfFullSegmentWaitsOnlyForTheQueue: a segment of at
// least half the size is sealed as soon as nothing is in flight, whatever
// the budget; while something is, it waits like any other.
func TestSealPolicyHalfFullSegmentWaitsOnlyForTheQueue(t *testing.T) {
	p := sealPolicy{interval: time.Hour, maxBytes: 1000}
	p.sealed(t0)
	if why, wait := p.decide(t0.Add(time.Millisecond), 500, 1); why != "" || wait != 0 {
		t.Fatalf("half full, one segment in flight: decide = %q, %v; want to wait for it", why, wait)
	}
	if why, wait := p.decide(t0.Add(time.Millisecond), 500, 0); why != sealHalf || wait != 0 {
		t.Fatalf("half full, nothing in flight: decide = %q, %v; want a half seal at once", why, wait)
	}
}

// TestSealPolicyKeepsToTheBudget drives the policy as the Ingester does,
// with a produce every millisecond and uploads of 20 ms, for a minute of
// the fake clock: the PUTs stay within the budget, and no batch waits more
// than one interval plus one upload.
func TestSealPolicyKeepsToTheBudget(t *testing.T) {
	for _, budget := range []float64{1, 4, 10, 25, 100} {
		interval := time.Duration(float64(time.Second) / budget)
		p := sealPolicy{interval: interval, maxBytes: 1 << 30}
		const upload = 20 * time.Millisecond
		var (
			seals      int
			bytes      int
			opened     time.Time
			uploadEnds time.Time
			longest    time.Duration
		)
		end := t0.Add(time.Minute)
		for now := t0; now.Before(end); now = now.Add(time.Millisecond) {
			if bytes == 0 {
				opened = now
			}
			bytes += 100
			uploading := 0
			if now.Before(uploadEnds) {
				uploading = 1
			}
			if why, _ := p.decide(now, bytes, uploading); why != "" {
				p.sealed(now)
				seals++
				longest = max(longest, now.Sub(opened))
				bytes, uploadEnds = 0, now.Add(upload)
			}
		}
		if most := int(budget*60) + 1; seals > most {
			t.Errorf("budget %v/s: %d seals in a minute, want at most %d", budget, seals, most)
		}
		// Under constant load a seal follows the budget, or the upload
		// when that takes longer.
		if least := int(time.Minute/max(interval, upload)) * 9 / 10; seals < least {
			t.Errorf("budget %v/s: only %d seals in a minute under constant load, want at least %d", budget, seals, least)
		}
		if longest > interval+upload {
			t.Errorf("budget %v/s: a segment stayed open %v, want at most %v", budget, longest, interval+upload)
		}
	}
}

func TestSealInterval(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(*Config)
		want  time.Duration
		local bool
	}{
		{"default on S3", func(*Config) {}, 250 * time.Millisecond, false},
		{"default on a local directory", func(*Config) {}, 0, true},
		{"budget 10", func(c *Config) { c.PutBudget = 10 }, 100 * time.Millisecond, false},
		{"budget 10 on a local directory", func(c *Config) { c.PutBudget = 10 }, 100 * time.Millisecond, true},
		{"no budget", func(c *Config) { c.PutBudget = 0 }, 0, false},
		{"old flush interval", func(c *Config) { c.FlushInterval = 10 * time.Millisecond }, 10 * time.Millisecond, false},
		{"old flush interval on a local directory", func(c *Config) { c.FlushInterval = 10 * time.Millisecond }, 10 * time.Millisecond, true},
		{"a dollar budget below the PUT budget", func(c *Config) { c.PutBudget = 10; c.PutRateCap = 2 }, 500 * time.Millisecond, false},
		{"a dollar budget above the PUT budget", func(c *Config) { c.PutBudget = 10; c.PutRateCap = 20 }, 100 * time.Millisecond, false},
		{"a dollar budget where there is none", func(c *Config) { c.PutBudget = 0; c.PutRateCap = 2 }, 500 * time.Millisecond, false},
		{"a dollar budget on a local directory", func(c *Config) { c.PutRateCap = 2 }, 500 * time.Millisecond, true},
		{"a dollar budget below the old flush interval", func(c *Config) { c.FlushInterval = 10 * time.Millisecond; c.PutRateCap = 2 }, 500 * time.Millisecond, false},
	} {
		c := Defaults()
		c.LocalObjects = tc.local
		tc.cfg(&c)
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.SealInterval(); got != tc.want {
			t.Errorf("%s: seal interval %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRemovedSettingsSayWhatToUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"adaptive", func(c *Config) { c.Adaptive = true }, "ingest.put-budget"},
		{"max puts per second", func(c *Config) { c.MaxPutsPerSecond = 100 }, "use ingest.put-budget"},
		{"quiet interval", func(c *Config) { c.QuietInterval = 3 * time.Millisecond }, "ingest.put-budget"},
		{"flush interval and budget", func(c *Config) { c.FlushInterval = time.Second; c.PutBudget = 4 }, "set only ingest.put-budget"},
		{"tiny budget", func(c *Config) { c.PutBudget = 1e-9 }, "at least one PUT an hour"},
	} {
		c := Defaults()
		tc.cfg(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error that says %q", tc.name, err, tc.want)
		}
	}
}
