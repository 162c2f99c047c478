package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stratalog/strata/internal/bench"
)

// ---- Produce latency against the PUT budget ----
//
// The seal policy seals a node's open segment as soon as no upload is in
// flight and the PUT budget allows, so at a steady load a node seals once
// per 1/budget. What a producer sees on top depends on its client: one
// that fills its produce requests in flight early in an interval (five
// per broker, sent a linger apart) holds every later record until the
// next ack, and that record then waits for the seal after, about 1.5
// intervals on average. The variants measure that (the client's linger
// and its requests in flight) and the latency each budget buys.

const phaseBudget = "budget"

type budgetPhase struct {
	Seconds  float64     `json:"seconds"`
	Variants []string    `json:"variants"`
	Runs     []budgetRun `json:"runs"`
}

type budgetRun struct {
	Variant           string             `json:"variant"`
	Budget            float64            `json:"budget"` // PUTs/s; 0: the default
	Linger            string             `json:"linger"`
	Idempotent        bool               `json:"idempotent"`
	MaxInflight       int                `json:"max_inflight"`
	OfferedMBPerSec   float64            `json:"offered_mb_per_sec"`
	MBPerSec          float64            `json:"mb_per_sec"`
	P50               float64            `json:"produce_p50_ms"`
	P99               float64            `json:"produce_p99_ms"`
	SegmentPutsPerSec float64            `json:"segment_puts_per_sec"`
	PutsPerSec        float64            `json:"puts_per_sec"`
	Seals             map[string]float64 `json:"seals,omitempty"`
	Error             string             `json:"error,omitempty"`
}

// budgetVariant is one node setting and one client setting.
type budgetVariant struct {
	name        string
	budget      float64 // 0: the node's default
	linger      time.Duration
	idempotent  bool
	maxInflight int
	rates       []int // records/s
}

func budgetVariants() []budgetVariant {
	all := []int{1000, 10000, 50000}
	low := []int{1000, 10000}
	vs := []budgetVariant{
		{"default budget, linger 5ms (strata bench)", 0, 5 * time.Millisecond, true, 5, all},
		{"default budget, linger 10ms (franz-go default)", 0, 10 * time.Millisecond, true, 5, low},
		{"default budget, linger 50ms", 0, 50 * time.Millisecond, true, 5, all},
		{"default budget, not idempotent, 50 in flight, linger 5ms", 0, 5 * time.Millisecond, false, 50, low},
	}
	for _, b := range []float64{1, 10, 25, 100} {
		// linger a fifth of the interval: five requests in flight span it.
		linger := time.Duration(float64(time.Second) / b / 5)
		vs = append(vs, budgetVariant{fmt.Sprintf("budget %g, linger %v", b, linger), b, linger, true, 5, low})
	}
	return vs
}

func (e *env) runBudgetPhase(ctx context.Context) *budgetPhase {
	ph := &budgetPhase{Seconds: e.o.adaptiveRun.Seconds()}
	for n, v := range budgetVariants() {
		if ctx.Err() != nil {
			break
		}
		ph.Variants = append(ph.Variants, v.name)
		runs, err := e.budgetVariant(ctx, fmt.Sprintf("budget-%d", n), v)
		if err != nil {
			logf("%s: %s: %v", phaseBudget, v.name, err)
			runs = append(runs, budgetRun{Variant: v.name, Error: err.Error()})
		}
		ph.Runs = append(ph.Runs, runs...)
	}
	return ph
}

func (e *env) budgetVariant(ctx context.Context, instance string, v budgetVariant) ([]budgetRun, error) {
	n, err := e.newServe(ctx, instance)
	if err != nil {
		return nil, err
	}
	var args []string
	if v.budget > 0 {
		args = []string{"-ingest.put-budget", fmt.Sprint(v.budget)}
	}
	if err := n.start(args...); err != nil {
		return nil, err
	}
	defer n.stop()
	var runs []budgetRun
	for _, rate := range v.rates {
		if ctx.Err() != nil {
			break
		}
		r := budgetRun{Variant: v.name, Budget: v.budget, Linger: v.linger.String(), Idempotent: v.idempotent, MaxInflight: v.maxInflight,
			OfferedMBPerSec: float64(rate*e.o.recordSize) / 1e6}
		topic := fmt.Sprintf("bench-%d", rate)
		err := createTopic(ctx, n.kafka, topic, e.o.partitions)
		var w *window
		var sum *bench.Summary
		if err == nil {
			cfg := e.loadConfig(n.kafka, n.admin, topic)
			cfg.Rate = rate
			cfg.Duration = e.o.adaptiveRun
			cfg.Linger = v.linger
			cfg.Idempotent = v.idempotent
			cfg.MaxInflight = v.maxInflight
			w, err = n.measure(ctx, func() (err error) {
				sum, err = runLoad(ctx, bench.ModeProduce, cfg)
				return err
			})
		}
		if err != nil {
			r.Error = err.Error()
			logf("%s: %s at %d/s: %v", phaseBudget, v.name, rate, err)
			runs = append(runs, r)
			continue
		}
		r.MBPerSec = sum.MBPerSec
		r.P50, r.P99 = p50p99(sum)
		r.SegmentPutsPerSec = w.rate(mSegments, nil)
		r.PutsPerSec = w.rate(mObjRequests, opPut)
		if sum.Server != nil {
			r.Seals = sum.Server.Seals
		}
		logf("%s: %s at %d/s: %.1f MB/s, p50 %.1f ms, p99 %.1f ms, %.1f segment PUTs/s (%.1f in all), seals %v",
			phaseBudget, v.name, rate, r.MBPerSec, r.P50, r.P99, r.SegmentPutsPerSec, r.PutsPerSec, r.Seals)
		runs = append(runs, r)
	}
	return runs, nil
}

// putDollarsPerMonth is the S3 list price of a PUT rate: $0.005 per 1,000
// PUTs, 730 hours a month.
func putDollarsPerMonth(putsPerSec float64) float64 {
	return putsPerSec * 730 * 3600 * 0.005 / 1000
}

func renderBudget(b *strings.Builder, r *results) {
	ph := r.Budget
	if ph == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("### Produce latency against the PUT budget\n\n")
	p("A fresh strata serve per variant (the default budget is 4 PUTs/s), offered 1,000, 10,000 and 50,000 records/s of %d B JSON "+
		"(%d producers of strata bench, franz-go, acks=all, %d partitions) for %.0f s each. "+
		"Linger and requests in flight are the producers'; an idempotent franz-go producer keeps at most 5 requests in flight per broker. "+
		"$/month is the segment PUTs at S3's list price ($0.005 per 1,000, 730 hours).\n\n",
		r.recordSize(), r.producers(), r.partitions(), ph.Seconds)
	p("| variant | offered MB/s | achieved MB/s | produce p50 ms | produce p99 ms | segment PUTs/s | node PUTs/s | PUTs $/month | seals |\n")
	p("|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range ph.Runs {
		if x.Error != "" {
			p("| %s | %.1f | failed: %s |||||||\n", x.Variant, x.OfferedMBPerSec, oneLine(x.Error))
			continue
		}
		var seals []string
		for _, k := range []string{"idle", "budget", "half", "size", "memory", "flush"} {
			if v := x.Seals[k]; v > 0 {
				seals = append(seals, fmt.Sprintf("%s %.0f", k, v))
			}
		}
		p("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %s |\n", x.Variant, x.OfferedMBPerSec, x.MBPerSec, x.P50, x.P99,
			x.SegmentPutsPerSec, x.PutsPerSec, putDollarsPerMonth(x.SegmentPutsPerSec), strings.Join(seals, ", "))
	}
	p("\n")
}
