package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// chart is a line chart drawn as server-side SVG: no script, and every
// number is put into the template as an attribute, escaped as any other.
type chart struct {
	Title  string
	Last   string // the latest value, formatted
	Max    string // the top of the y axis, formatted
	From   string // time of the first point
	Points string // "x,y x,y ..." of the polyline
	Empty  bool
	W, H   int
}

const chartW, chartH = 480, 110

// newChart plots values (one per time) over the last hour.
func newChart(title string, at []time.Time, values []float64, format func(float64) string) chart {
	ch := chart{Title: title, W: chartW, H: chartH}
	if len(values) == 0 {
		ch.Empty, ch.Last, ch.Max = true, "no samples yet", format(0)
		return ch
	}
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	if top == 0 {
		top = 1
	}
	// The x axis spans the samples kept, an hour at most.
	end := at[len(at)-1]
	start := at[0]
	if hour := end.Add(-time.Hour); start.Before(hour) {
		start = hour
	}
	span := end.Sub(start).Seconds()
	if span <= 0 {
		span = 1
	}
	var b strings.Builder
	for i, v := range values {
		x := float64(chartW) * at[i].Sub(start).Seconds() / span
		y := float64(chartH) - float64(chartH-4)*v/top
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(max(x, 0), 'f', 1, 64))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
	}
	ch.Points = b.String()
	ch.Last = format(values[len(values)-1])
	ch.Max = format(top)
	ch.From = start.UTC().Format("15:04:05")
	return ch
}

func fmtBytesPerSec(v float64) string { return fmtBytes(v) + "/s" }
func fmtPerSec(v float64) string      { return strconv.FormatFloat(v, 'f', 2, 64) + "/s" }
func fmtMs(v float64) string          { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" }
func fmtSeconds(v float64) string     { return strconv.FormatFloat(v, 'f', 0, 64) + " s" }

// fmtBytes formats a byte count with binary units.
func fmtBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
