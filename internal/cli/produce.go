package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/spf13/cobra"
	"io"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/client"
)

// produce reads records from stdin, one per line, and produces them. Lines
// are sent as fast as the client's buffer allows; offsets are printed in
// input order. The first failed record stops reading; Ctrl-C stops reading
// and waits for the records already sent.
func (e *env) produce() *cobra.Command {
	fs := e.flags("produce", "produce TOPIC [--key-separator SEP] [--header k=v]... [--json] [--partition N] [--print-offsets] < records")
	keySep := fs.StringP("key-separator", "K", "", "split each line at the first SEP into key and value; a line without SEP has no key")
	var headerFlags stringList
	fs.VarP(&headerFlags, "header", "H", "header k=v added to every record, repeated")
	jsonMode := fs.Bool("json", false, `each line is a JSON record: {"key":..,"value":..,"headers":{"k":"v"}}`)
	partition := fs.IntP("partition", "p", -1, "partition to produce to (-1: by key hash, else spread)")
	printOffsets := fs.Bool("print-offsets", false, "print the partition and offset of each record, in input order")
	return e.leaf(fs, []string{"TOPIC"}, func(pos []string) error {
		topic := pos[0]
		if *jsonMode && *keySep != "" {
			return usagef("--json and --key-separator exclude each other")
		}
		if *partition < -1 {
			return usagef("--partition %d: want 0 or more", *partition)
		}
		headers, err := headerList(headerFlags)
		if err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()

		type result struct {
			off client.Offset
			err error
		}
		type pending struct {
			line int
			done chan result
		}
		var (
			queue    = make(chan pending, 1<<14)
			acked    atomic.Int64
			failed   atomic.Bool
			firstErr error // set by the printer before it returns
			printed  = make(chan struct{})
		)
		go func() {
			defer close(printed)
			enc := json.NewEncoder(e.stdout)
			for p := range queue {
				r := <-p.done
				if r.err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("line %d: %w", p.line, r.err)
					}
					failed.Store(true)
					continue
				}
				acked.Add(1)
				if !*printOffsets {
					continue
				}
				if e.output == "json" {
					enc.Encode(producedJSON{topic, r.off.Partition, r.off.Offset})
				} else {
					fmt.Fprintf(e.stdout, "topic=%s partition=%d offset=%d\n", topic, r.off.Partition, r.off.Offset)
				}
			}
		}()

		start := time.Now()
		prog := e.startProgress(func() string {
			n := acked.Load()
			return fmt.Sprintf("produced %d records to %s (%.0f/s)", n, topic, float64(n)/time.Since(start).Seconds())
		})
		// Records already handed to the client complete even after Ctrl-C.
		sendCtx := context.WithoutCancel(e.ctx)
		lines := readLines(e.ctx, e.stdin)
		var readErr error
		lineNo := 0
	read:
		for !failed.Load() {
			var l lineOrErr
			select {
			case <-e.ctx.Done():
				break read
			case l = <-lines:
			}
			if l.err != nil {
				if !errors.Is(l.err, io.EOF) {
					readErr = fmt.Errorf("read stdin: %w", l.err)
				}
				break
			}
			lineNo++
			if len(bytes.TrimSpace(l.line)) == 0 {
				continue
			}
			rec, err := e.parseRecord(l.line, *jsonMode, *keySep)
			if err != nil {
				readErr = fmt.Errorf("line %d: %w", lineNo, err)
				break
			}
			rec.Headers = append(rec.Headers, headers...)
			if rec.Partition < 0 {
				rec.Partition = int32(*partition)
			}
			opts := []client.RecordOption{client.WithHeaders(rec.Headers...)}
			if rec.Partition >= 0 {
				opts = append(opts, client.WithPartition(rec.Partition))
			}
			done := make(chan result, 1)
			queue <- pending{line: lineNo, done: done}
			c.ProduceAsync(sendCtx, topic, rec.Key, rec.Value, func(off client.Offset, err error) {
				done <- result{off, err}
			}, opts...)
		}
		close(queue)
		<-printed
		prog.end()
		if err := errors.Join(readErr, firstErr); err != nil {
			return fmt.Errorf("%w (%s produced before)", err, plural(acked.Load(), "record"))
		}
		if isTerminal(e.stderr) && !*printOffsets {
			fmt.Fprintf(e.stderr, "Produced %s to %s.\n", plural(acked.Load(), "record"), topic)
		}
		return nil
	})
}

// producedJSON is a line of produce --print-offsets --output json.
type producedJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// parseRecord reads one input line.
func (e *env) parseRecord(line []byte, jsonMode bool, keySep string) (record, error) {
	if jsonMode {
		return parseJSONLine(line)
	}
	r := record{Value: line, Partition: -1}
	if keySep != "" {
		if k, v, ok := bytes.Cut(line, []byte(keySep)); ok {
			r.Key, r.Value = k, v
		}
	}
	return r, nil
}

type lineOrErr struct {
	line []byte
	err  error // io.EOF at the end
}

// readLines reads r line by line (without the line end) on a goroutine, so
// that Ctrl-C is noticed while a terminal waits for input.
func readLines(ctx context.Context, r io.Reader) <-chan lineOrErr {
	ch := make(chan lineOrErr, 256)
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
				select {
				case ch <- lineOrErr{line: line}:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				select {
				case ch <- lineOrErr{err: err}:
				case <-ctx.Done():
				}
				return
			}
		}
	}()
	return ch
}
