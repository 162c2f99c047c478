package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/stratalog/strata/client"
)

// consume prints a topic's records until Ctrl-C or until -n records were
// printed. In a group it commits what it printed and leaves the group on
// the way out.
func (e *env) consume(args []string) error {
	fs := e.flags("consume", "consume TOPIC [--group G] [--from-beginning | --offset N | --since 10m] [-n COUNT] [--format text|json|template]")
	group := fs.String("group", "", "consume as a member of this consumer group, resuming from its committed offsets")
	fromBeginning := fs.Bool("from-beginning", false, "start at the oldest record (default: only new records)")
	offset := fs.Int64("offset", -1, "start at this offset in every partition (not with --group)")
	since := fs.String("since", "", "start at the first record after a time: a duration ago (10m, 2h) or an RFC 3339 time")
	var partitions int32List
	fs.Var(&partitions, "partition", "read only this partition, repeated (not with --group)")
	count := fs.Int("n", 0, "exit after this many records (0: run until Ctrl-C)")
	format := fs.String("format", "", "text (the value), json (one object per line) or template (default: --output)")
	tmplText := fs.String("template", "", "Go template for --format template, e.g. '{{.Partition}}@{{.Offset}} {{.Key}}={{.Value}}'; fields Topic, Partition, Offset, Timestamp, Key, Value, Headers")
	keySep := fs.String("key-separator", "", "in text format, print the key, SEP, then the value")
	pos, err := e.parse(fs, args, "TOPIC")
	if err != nil {
		return err
	}
	topic := pos[0]
	if *format == "" {
		*format = e.output
	}

	// Where to start.
	start := client.End()
	starts := 0
	if *fromBeginning {
		start, starts = client.Beginning(), starts+1
	}
	if *offset >= 0 {
		start, starts = client.AtOffset(*offset), starts+1
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
	case *group != "" && *offset >= 0:
		return usagef("--offset needs no --group; move a group with `strata groups reset-offsets`")
	case *group != "" && len(partitions) > 0:
		return usagef("--partition needs no --group: a group assigns partitions itself")
	case *count < 0:
		return usagef("-n %d: want 0 or more", *count)
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
