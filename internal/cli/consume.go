package cli

import (
	"bufio"
	"context"
	"fmt"
	"github.com/spf13/cobra"
	"strconv"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/stratalog/strata/client"
)

// consume prints a topic's records until Ctrl-C or until -n records were
// printed. In a group it commits what it printed and leaves the group on
// the way out.
func (e *env) consume() *cobra.Command {
	fs := e.flags("consume", "consume TOPIC [--group G] [--from-beginning | -o OFFSET | --since 10m] [-p PARTITION] [-e] [-n COUNT] [--format text|json|template]")
	group := fs.StringP("group", "g", "", "consume as a member of this consumer group, resuming from its committed offsets")
	fromBeginning := fs.Bool("from-beginning", false, "start at the oldest record (default: only new records)")
	var offset offsetFlag
	offsetHelp := "where to start in every partition (not with --group): beginning, end, N (an offset), -N (N before the end), @TIME (a time: Unix milliseconds, RFC 3339, or a duration ago), or a range FROM..TO that stops before TO (an offset, @TIME or end)"
	fs.VarP(&offset, "offset", "o", offsetHelp)
	since := fs.String("since", "", "start at the first record after a time: a duration ago (10m, 2h) or an RFC 3339 time")
	var partitions int32List
	fs.VarP(&partitions, "partition", "p", "read only this partition, repeated (not with --group)")
	var exitAtEnd bool
	fs.BoolVarP(&exitAtEnd, "exit-at-end", "e", false, "exit once every partition is read up to its end at the start (not with --group)")
	count := fs.IntP("n", "n", 0, "exit after this many records (0: run until Ctrl-C)")
	format := fs.StringP("format", "f", "", "text (the value), json (one object per line) or template (default: --output)")
	tmplText := fs.String("template", "", "Go template for --format template, e.g. '{{.Partition}}@{{.Offset}} {{.Key}}={{.Value}}'; fields Topic, Partition, Offset, Timestamp, Key, Value, Headers")
	keySep := fs.StringP("key-separator", "K", "", "in text format, print the key, SEP, then the value")
	return e.leaf(fs, []string{"TOPIC"}, func(pos []string) error {
		topic := pos[0]
		if *format == "" {
			*format = e.output
		}

		// Where to start, and where to stop.
		start := client.End()
		var stop *client.Position
		starts := 0
		if *fromBeginning {
			start, starts = client.Beginning(), starts+1
		}
		if offset.set {
			from, to, err := parseOffsetRange(offset.text, time.Now())
			if err != nil {
				return usagef("--offset %q: %v", offset.text, err)
			}
			start, stop, starts = from, to, starts+1
		}
		if *since != "" {
			t, err := parseSince(*since, time.Now())
			if err != nil {
				return usagef("--since %q: %v", *since, err)
			}
			start, starts = client.AtTime(t), starts+1
		}
		switch {
		case starts > 1:
			return usagef("give at most one of --from-beginning, --offset and --since")
		case *group != "" && offset.set:
			return usagef("--offset needs no --group; move a group with `strata groups reset-offsets`")
		case *group != "" && len(partitions) > 0:
			return usagef("--partition needs no --group: a group assigns partitions itself")
		case *group != "" && exitAtEnd:
			return usagef("--exit-at-end needs no --group: a group's partitions change as members come and go")
		case exitAtEnd && stop != nil:
			return usagef("give --exit-at-end or a range's end (--offset FROM..TO), not both")
		case *count < 0:
			return usagef("-n %d: want 0 or more", *count)
		}
		if exitAtEnd {
			end := client.End()
			stop = &end
		}

		// How to print.
		var printRecord func(w *bufio.Writer, m client.Message[[]byte, []byte]) error
		switch *format {
		case "text":
			sep := *keySep
			printRecord = func(w *bufio.Writer, m client.Message[[]byte, []byte]) error {
				if sep != "" {
					w.Write(m.RawKey)
					w.WriteString(sep)
				}
				w.Write(m.RawValue)
				return w.WriteByte('\n')
			}
		case "json":
			printRecord = func(w *bufio.Writer, m client.Message[[]byte, []byte]) error {
				b, err := formatJSONLine(m)
				if err != nil {
					return err
				}
				w.Write(b)
				return w.WriteByte('\n')
			}
		case "template":
			if *tmplText == "" {
				return usagef("--format template needs --template")
			}
			tmpl, err := template.New("record").Parse(*tmplText)
			if err != nil {
				return usagef("--template: %v", err)
			}
			printRecord = func(w *bufio.Writer, m client.Message[[]byte, []byte]) error {
				if err := tmpl.Execute(w, newTemplateRecord(m)); err != nil {
					return err
				}
				return w.WriteByte('\n')
			}
		default:
			return usagef("--format %q: want text, json or template", *format)
		}

		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		if *group != "" {
			// A group consumer would wait for a missing topic forever.
			ctx, cancel := e.reqCtx()
			_, err := c.Admin().DescribeTopic(ctx, topic)
			cancel()
			if err != nil {
				return err
			}
		}
		opts := []client.ConsumerOption{client.StartAt(start)}
		if stop != nil {
			opts = append(opts, client.StopAt(*stop))
		}
		for _, p := range partitions {
			opts = append(opts, client.OnlyPartitions(topic, p))
		}
		ctx, cancel := e.reqCtx()
		cons, err := client.NewConsumer(ctx, c, *group, []string{topic}, client.Bytes{}, client.Bytes{}, opts...)
		cancel()
		if err != nil {
			return err
		}

		var n atomic.Int64
		startTime := time.Now()
		prog := e.startProgress(func() string {
			return fmt.Sprintf("consumed %d records from %s (%.0f/s)", n.Load(), topic, float64(n.Load())/time.Since(startTime).Seconds())
		})
		defer prog.end()
		w := bufio.NewWriterSize(e.stdout, 64<<10)
		err = cons.Run(e.ctx, func(ctx context.Context, m client.Message[[]byte, []byte]) error {
			if err := printRecord(w, m); err != nil {
				return err
			}
			// Flush before the record counts as processed (and is committed).
			if err := w.Flush(); err != nil {
				return err
			}
			if int(n.Add(1)) == *count {
				return client.ErrStop
			}
			return nil
		})
		w.Flush()
		return err
	})
}

// offsetFlag is the text of --offset, kept for parseOffsetRange.
type offsetFlag struct {
	text string
	set  bool
}

func (f *offsetFlag) String() string { return f.text }
func (f *offsetFlag) Type() string   { return "offset" }

func (f *offsetFlag) Set(s string) error {
	f.text, f.set = s, true
	return nil
}

// parseOffsetRange reads an --offset value: a position (see
// parseOffsetPosition) or a range FROM..TO whose TO is where reading stops
// (exclusive). FROM may be empty (the beginning); TO may be an offset,
// @TIME or "end".
func parseOffsetRange(s string, now time.Time) (client.Position, *client.Position, error) {
	from, to, isRange := strings.Cut(strings.TrimSpace(s), "..")
	if !isRange {
		p, err := parseOffsetPosition(from, now)
		return p, nil, err
	}
	start := client.Beginning()
	if from != "" {
		p, err := parseOffsetPosition(from, now)
		if err != nil {
			return client.Position{}, nil, err
		}
		start = p
	}
	if to == "" || strings.HasPrefix(to, "-") || to == "beginning" {
		return client.Position{}, nil, fmt.Errorf("a range ends at an offset, @TIME or end")
	}
	stop, err := parseOffsetPosition(to, now)
	if err != nil {
		return client.Position{}, nil, err
	}
	return start, &stop, nil
}

// parseOffsetPosition reads one position of --offset: beginning, end, N,
// -N (N records before the end) or @TIME.
func parseOffsetPosition(s string, now time.Time) (client.Position, error) {
	switch s {
	case "beginning", "earliest":
		return client.Beginning(), nil
	case "end", "latest":
		return client.End(), nil
	case "":
		return client.Position{}, fmt.Errorf("want beginning, end, N, -N or @TIME")
	}
	if at, ok := strings.CutPrefix(s, "@"); ok {
		if ms, err := strconv.ParseInt(at, 10, 64); err == nil {
			return client.AtTime(time.UnixMilli(ms).UTC()), nil
		}
		t, err := parseSince(at, now)
		if err != nil {
			return client.Position{}, fmt.Errorf("@TIME: want Unix milliseconds, %v", err)
		}
		return client.AtTime(t), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return client.Position{}, fmt.Errorf("want beginning, end, N, -N or @TIME")
	}
	if n < 0 {
		return client.FromEnd(-n), nil
	}
	return client.AtOffset(n), nil
}

// parseSince reads a --since value: a duration before now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("negative duration")
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(s), time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a duration (10m, 2h30m) or a time (2025-03-01T12:00:00Z)")
}
