package bench

import (
	"errors"
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff},
}

// drawTimeline writes a PNG chart of a run: throughput over time above,
// latency percentiles over time below.
func drawTimeline(path, mode string, pts []Point) error {
	if len(pts) == 0 {
		return errors.New("nothing to draw: the run ended within its first interval")
	}
	rate := plot.New()
	rate.Title.Text = "strata bench " + mode
	rate.Y.Label.Text = "records/s"
	rate.Y.Min, rate.X.Min = 0, 0
	lat := plot.New()
	lat.X.Label.Text = "seconds"
	lat.Y.Label.Text = "latency (ms)"
	lat.Y.Min, lat.X.Min = 0, 0
	line := func(p *plot.Plot, name string, c int, value func(Point) float64, skipEmpty bool) error {
		xy := make(plotter.XYs, 0, len(pts))
		for _, pt := range pts {
			v := value(pt)
			if skipEmpty && v == 0 {
				continue // no ack in the interval: no percentile
			}
			xy = append(xy, plotter.XY{X: pt.Seconds, Y: v})
		}
		if len(xy) == 0 {
			return nil
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color, l.Width = palette[c%len(palette)], vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	var errs []error
	if mode != ModeConsume {
		errs = append(errs,
			line(rate, "produced", 0, func(p Point) float64 { return p.ProducedPS }, false),
			line(lat, "produce p50", 0, func(p Point) float64 { return p.ProduceP50 }, true),
			line(lat, "produce p99", 1, func(p Point) float64 { return p.ProduceP99 }, true))
	}
	if mode == ModeConsume || mode == ModeE2E {
		errs = append(errs, line(rate, "consumed", 1, func(p Point) float64 { return p.ConsumedPS }, false))
	}
	if mode == ModeE2E {
		errs = append(errs,
			line(lat, "end-to-end p50", 2, func(p Point) float64 { return p.EndToEndP50 }, true),
			line(lat, "end-to-end p99", 3, func(p Point) float64 { return p.EndToEndP99 }, true))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rate.Legend.Top, lat.Legend.Top = true, true

	img := vgimg.New(10*vg.Inch, 7*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	panels := [][]*plot.Plot{{rate}, {lat}}
	if mode == ModeConsume {
		panels = panels[:1] // a consumer has no latency of its own
		tiles.Rows = 1
	}
	canvases := plot.Align(panels, tiles, dc)
	for i, row := range panels {
		row[0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
