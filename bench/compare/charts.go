package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func init() { writeCharts = drawCharts }

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
}

// drawCharts writes throughput.png (median maximum records/s per system)
// and latency.png (produce latency percentiles at half of it).
func drawCharts(r *results, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var names []string
	var tput plotter.Values
	var lat [3]plotter.Values
	for _, s := range r.Systems {
		if s.Error != "" || len(s.Max) == 0 {
			continue
		}
		names = append(names, s.Name)
		tput = append(tput, s.recordsPerSec()/1000)
		var l [3]float64
		if s.Half != nil && s.Half.ProduceLatency != nil {
			l = [3]float64{s.Half.ProduceLatency.P50, s.Half.ProduceLatency.P99, s.Half.ProduceLatency.P999}
		}
		for i := range lat {
			lat[i] = append(lat[i], l[i])
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no system measured")
	}

	// Wide enough for the names under the bars.
	width := vg.Length(max(7, 1.5*float64(len(names)))) * vg.Inch
	p := plot.New()
	p.Title.Text = "Maximum produce throughput (1 KiB JSON, acks=all, idempotent)"
	p.Y.Label.Text = "thousand records/s"
	bars, err := plotter.NewBarChart(tput, vg.Points(40))
	if err != nil {
		return err
	}
	bars.Color = palette[0]
	p.Add(bars)
	p.NominalX(names...)
	if err := p.Save(width, 4*vg.Inch, filepath.Join(dir, "throughput.png")); err != nil {
		return err
	}

	p = plot.New()
	p.Title.Text = "Produce latency at half of the maximum throughput"
	p.Y.Label.Text = "ms"
	w := vg.Points(18)
	for i, label := range []string{"p50", "p99", "p99.9"} {
		b, err := plotter.NewBarChart(lat[i], w)
		if err != nil {
			return err
		}
		b.Color = palette[i]
		b.Offset = w * vg.Length(i-1)
		p.Add(b)
		p.Legend.Add(label, b)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	if err := p.Save(width, 4*vg.Inch, filepath.Join(dir, "latency.png")); err != nil {
		return err
	}
	r.Charts = []string{"throughput.png", "latency.png"}
	return nil
}
