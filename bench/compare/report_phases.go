package main

import (
	"fmt"
	"strings"

	"github.com/stratalog/strata/internal/bench"
)

func mib(b float64) float64 { return b / (1 << 20) }

// renderPhases writes the tables of the phases that ran.
func renderPhases(b *strings.Builder, r *results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }

	if ph := r.Partitions; ph != nil {
		p("### Object PUTs against the partition count\n\n")
		p("Each partition count on a fresh strata serve (its own database and bucket), `-ingest.flush-interval %s`, `-compactor.interval %s` "+
			"(the default is 30s; shorter so that the window spans compactor rounds), %s records/s of %d B JSON offered by one producer for %.0f s. "+
			"Segment PUTs are `strata_ingest_segments_total` (one PUT per sealed segment), node PUTs `strata_objstore_requests_total{op=\"put\"}`, "+
			"the difference is the compactor's.\n\n",
			ph.FlushInterval, ph.CompactorInterval, thousands(float64(ph.Rate)), r.recordSize(), ph.Seconds)
		p("| partitions | records/s | segment PUTs/s | other PUTs/s (compactor) | node PUTs/s | commits/s | compactor rounds | partitions merged | level-1 objects written | produce p99 ms |\n")
		p("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range ph.Runs {
			if x.Error != "" {
				p("| %s | failed: %s |||||||||\n", x.label(), oneLine(x.Error))
				continue
			}
			p("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %.1f |\n", x.label(), thousands(x.RecordsPerSec),
				x.SegmentPutsPerSec, x.OtherPutsPerSec, x.PutsPerSec, x.CommitsPerSec, x.CompactorRounds, x.CompactorParts, x.CompactorObjects, x.ProduceP99)
		}
		p("\n")
	}

	if ph := r.Adaptive; ph != nil {
		p("### Adaptive batching against the flush timer\n\n")
		p("A fresh strata serve per mode: timer is `-ingest.flush-interval %s`, adaptive is `-ingest.put-budget %s`. "+
			"Each is offered 1,000, 10,000 and 50,000 records/s of %d B JSON (%d producers, %d partitions) for %.0f s, one run after the other on the same node.\n\n",
			ph.FlushInterval, ph.MaxPutsPerSecond, r.recordSize(), r.producers(), r.partitions(), ph.Seconds)
		p("| mode | offered MB/s | achieved MB/s | produce p50 ms | produce p99 ms | segment PUTs/s | node PUTs/s | mean object KiB |\n")
		p("|---|---|---|---|---|---|---|---|\n")
		for _, x := range ph.Runs {
			if x.Error != "" {
				p("| %s | %.1f | failed: %s ||||||\n", x.Mode, x.OfferedMBPerSec, oneLine(x.Error))
				continue
			}
			p("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f |\n", x.Mode, x.OfferedMBPerSec, x.MBPerSec, x.P50, x.P99,
				x.SegmentPutsPerSec, x.PutsPerSec, x.MeanObjectBytes/1024)
		}
		p("\n")
	}

	renderBudget(b, r)

	if ph := r.Memory; ph != nil {
		p("### Memory at twice the sustainable load\n\n")
		var bs []string
		for _, x := range ph.Budgets {
			bs = append(bs, fmt.Sprintf("`-%s` %.0f MiB", x.Flag, mib(float64(x.Bytes))))
		}
		p("A fresh strata serve with its memory budgets passed explicitly at their defaults (%s; sum %.0f MiB), "+
			"offered %s records/s, twice %s records/s (%s), for %.0f s by %d producers holding up to %s records each in flight "+
			"(%.0f MiB, more than the ingest budget). VmRSS of the server sampled from /proc every 100 ms; "+
			"throttle is `strata_ingest_throttle_seconds_total`, the time produce requests waited for the ingest budget, summed over requests.\n\n",
			strings.Join(bs, ", "), mib(float64(ph.BudgetBytes)), thousands(float64(ph.OfferedRecords)), thousands(ph.Sustainable), ph.SustainableFrom,
			ph.Seconds, ph.Producers, thousands(float64(ph.MaxBuffered)), mib(float64(ph.Producers*ph.MaxBuffered*r.recordSize())))
		if ph.Error != "" {
			p("Run failed: %s\n\n", oneLine(ph.Error))
		}
		if ph.RSSSamples > 0 {
			p("| offered records/s | achieved records/s | produce p99 ms | peak RSS MiB | VmHWM MiB | budgets MiB | peak − budgets MiB | ingest buffered peak MiB | throttled s | produce errors | /healthz after | alive after |\n")
			p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
			p("| %s | %s | %.0f | %.0f | %.0f | %.0f | %+.0f | %.0f | %.1f | %d | %s | %s |\n\n", thousands(float64(ph.OfferedRecords)), thousands(ph.RecordsPerSec), ph.P99,
				mib(float64(ph.PeakRSS)), mib(float64(ph.HWM)), mib(float64(ph.BudgetBytes)), mib(float64(ph.Overhead)), mib(ph.PeakBuffered),
				ph.ThrottleSecs, ph.ProduceErrors, yesNo(ph.HealthzOK), yesNo(ph.Alive))
		}
	}

	if ph := r.CatchUp; ph != nil {
		p("### Catch-up reads from level 0 and level 1\n\n")
		p("A fresh strata serve without the compactor role (`-roles %s`) takes %.0f s of maximum produce load on one topic of %d partitions. "+
			"It is restarted (cold cache) and %d consumers, each with its share of the partitions, read the topic from offset 0 (`strata bench consume -consumers %d`): level 0. "+
			"Then it runs with the compactor (`%s`) until no level-0 chunk is left, is restarted without it (cold cache again) and the topic is read again: level 1. "+
			"MinIO's own page cache stays warm.\n\n",
			rolesNoCompactor, ph.Seconds, ph.Partitions, ph.Consumers, ph.Consumers, strings.Join(ph.CompactorFlags, " "))
		if ph.Error != "" {
			p("Run failed: %s\n\n", oneLine(ph.Error))
		}
		if pr := ph.Produce; pr != nil && pr.RecordsPerSec > 0 {
			p("| run | records | records/s | MB/s | × produce rate | GETs/s | cores: node / MinIO / consumers |\n|---|---|---|---|---|---|---|\n")
			p("| produce | %s | %s | %.1f | 1.00 | - | - |\n", thousands(float64(pr.Produced)), thousands(pr.RecordsPerSec), pr.MBPerSec)
			for _, x := range []struct {
				name string
				read *bench.Summary
				cpu  *cpuShare
			}{{"read level 0", ph.Level0, ph.Level0CPU}, {"read level 1", ph.Level1, ph.Level1CPU}} {
				if x.read == nil {
					continue
				}
				gets := "-"
				if x.read.Server != nil {
					gets = fmt.Sprintf("%.1f", x.read.Server.GetsPerSec)
				}
				cores := "-"
				if x.cpu != nil {
					cores = fmt.Sprintf("%.2f / %.2f / %.2f", x.cpu.Node, x.cpu.MinIO, x.cpu.Consumer)
				}
				p("| %s | %s | %s | %.1f | %.2f | %s | %s |\n", x.name, thousands(float64(x.read.Consumed)), thousands(x.read.ConsumeRecsPerSec),
					x.read.ConsumeMBPerSec, x.read.ConsumeRecsPerSec/pr.RecordsPerSec, gets, cores)
			}
			p("\n")
			if ph.Level1 != nil {
				left := ""
				if ph.Level0Left > 0 {
					left = fmt.Sprintf(", %.0f level-0 chunks still left when the wait ended", ph.Level0Left)
				}
				p("Compaction to level 1 took %.0f s (%.0f level-1 objects%s).\n\n", ph.CompactSeconds, ph.Level1Objects, left)
			}
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
