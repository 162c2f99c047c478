package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Point is one interval of a run: its rates and latency percentiles.
type Point struct {
	Seconds     float64 // end of the interval, from the start of the run
	ProducedPS  float64 // records acked per second
	ConsumedPS  float64 // records consumed per second
	ProduceP50  float64 // ms; 0 when no ack arrived in the interval
	ProduceP99  float64
	EndToEndP50 float64 // ms, e2e mode
	EndToEndP99 float64
}

// sampler takes one sample of a run per interval: the rates and the
// latency percentiles of the interval. It prints them as the progress
// line, keeps them for the chart, and writes the interval histograms to
// an HdrHistogram log.
type sampler struct {
	interval time.Duration
	mode     string
	st       *stats
	start    time.Time
	out      io.Writer                        // progress lines; nil for none
	log      *hdrhistogram.HistogramLogWriter // nil for none
	logFile  *os.File                         //
	plotFile string                           // "" for no chart
	timeline []Point                          // written by run, read after stop
	done     chan struct{}                    //
	wg       sync.WaitGroup                   //
	logErr   error                            // first failed log write
	last     lastSample                       // the previous sample
}

// lastSample is what the previous sample read, for the next rates.
type lastSample struct {
	at                  time.Time
	produced, prodBytes int64
	consumed, consBytes int64
}

// startSampler starts sampling when the run prints progress, writes a
// histogram log or draws a chart; stop ends it and writes the files.
// progress may be nil.
func startSampler(cfg Config, mode string, st *stats, start time.Time, progress io.Writer) (stop func() error, err error) {
	s := &sampler{mode: mode, st: st, start: start, interval: cfg.Progress, plotFile: cfg.Plot, done: make(chan struct{})}
	if cfg.Progress > 0 {
		s.out = progress
	}
	if s.interval == 0 {
		s.interval = time.Second
	}
	if s.out == nil && cfg.Hist == "" && cfg.Plot == "" {
		return func() error { return nil }, nil
	}
	if cfg.Hist != "" {
		if s.logFile, err = os.Create(cfg.Hist); err != nil {
			return nil, fmt.Errorf("hist: %w", err)
		}
		s.log = hdrhistogram.NewHistogramLogWriter(s.logFile)
		startMs := start.UnixMilli()
		err = errors.Join(s.log.OutputLogFormatVersion(), s.log.OutputStartTime(startMs), s.log.OutputBaseTime(startMs),
			s.log.OutputComment("strata bench "+mode+": latency in microseconds, tags produce and e2e"), s.log.OutputLegend())
		if err != nil {
			s.logFile.Close()
			return nil, fmt.Errorf("hist: %w", err)
		}
	}
	s.last.at = start
	s.wg.Go(s.run)
	return s.stop, nil
}

func (s *sampler) run() {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			// The last, partial interval: in the log, and in the chart
			// unless too short for its rates to mean anything; not
			// printed (the summary follows).
			now := time.Now()
			s.sample(now, false, now.Sub(s.last.at) > s.interval/10)
			return
		case now := <-tick.C:
			s.sample(now, true, true)
		}
	}
}

func (s *sampler) sample(now time.Time, print, chart bool) {
	secs := now.Sub(s.last.at).Seconds()
	p, pb := s.st.produced.Load(), s.st.producedBytes.Load()
	c, cb := s.st.consumed.Load(), s.st.consumedBytes.Load()
	prod, e2e := s.st.produceWindow.Snapshot(true), s.st.e2eWindow.Snapshot(true)
	pt := Point{
		Seconds:    now.Sub(s.start).Seconds(),
		ProducedPS: float64(p-s.last.produced) / secs, ConsumedPS: float64(c-s.last.consumed) / secs,
		ProduceP50: ms(quantile(prod, 0.5)), ProduceP99: ms(quantile(prod, 0.99)),
		EndToEndP50: ms(quantile(e2e, 0.5)), EndToEndP99: ms(quantile(e2e, 0.99)),
	}
	if chart {
		s.timeline = append(s.timeline, pt)
	}
	if s.log != nil && s.logErr == nil {
		for tag, h := range map[string]*hdrhistogram.Histogram{"produce": prod, "e2e": e2e} {
			if h.TotalCount() == 0 {
				continue
			}
			h.SetTag(tag)
			h.SetStartTimeMs(s.last.at.UnixMilli())
			h.SetEndTimeMs(now.UnixMilli())
			if err := s.log.OutputIntervalHistogram(h); err != nil {
				s.logErr = err
			}
		}
	}
	if print && s.out != nil {
		line := fmt.Sprintf("%6.1fs", pt.Seconds)
		if s.mode != ModeConsume {
			line += fmt.Sprintf("  produce %8.0f rec/s %7.2f MB/s  p50 %7.2f ms  p99 %7.2f ms",
				pt.ProducedPS, float64(pb-s.last.prodBytes)/secs/1e6, pt.ProduceP50, pt.ProduceP99)
			if e := s.st.produceErrs.Load(); e > 0 {
				line += fmt.Sprintf("  errors %d", e)
			}
		}
		if s.mode == ModeConsume || s.mode == ModeE2E {
			line += fmt.Sprintf("  consume %8.0f rec/s %7.2f MB/s", pt.ConsumedPS, float64(cb-s.last.consBytes)/secs/1e6)
			if s.mode == ModeE2E {
				line += fmt.Sprintf("  e2e p50 %7.2f ms  p99 %7.2f ms", pt.EndToEndP50, pt.EndToEndP99)
			}
		}
		fmt.Fprintln(s.out, line)
	}
	s.last = lastSample{at: now, produced: p, prodBytes: pb, consumed: c, consBytes: cb}
}

// stop ends the sampling, closes the histogram log and draws the chart.
func (s *sampler) stop() error {
	close(s.done)
	s.wg.Wait()
	var errs []error
	if s.logFile != nil {
		if s.logErr != nil {
			errs = append(errs, fmt.Errorf("hist: %w", s.logErr))
		}
		if err := s.logFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("hist: %w", err))
		}
	}
	if s.plotFile != "" {
		if err := drawTimeline(s.plotFile, s.mode, s.timeline); err != nil {
			errs = append(errs, fmt.Errorf("plot: %w", err))
		}
	}
	return errors.Join(errs...)
}
