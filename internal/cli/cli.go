// Package cli implements strata's user-facing commands: topics, produce,
// consume, groups, users, acls, quotas and status. They talk to any
// Kafka-compatible broker through the Go SDK (package client), like kcat or
// rpk; `users` can also write SCRAM credentials straight into a metastore,
// for the first user of a cluster that is not running yet.
//
// Every command takes --brokers (default $STRATA_BROKERS, else
// 127.0.0.1:9092) and --output text|json. Exit codes: 0 success, 1 failure,
// 2 bad usage.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stratalog/strata/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// connect opens an SDK client on the brokers.
func (e *env) connect() (*client.Client, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	var brokers []string
	for _, b := range strings.Split(e.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, usagef("--brokers is empty")
	}
	opts, err := e.conn.options(e.password)
	if err != nil {
		return nil, err
	}
	return client.New(ctx, append([]client.Option{client.WithBrokers(brokers...), client.WithClientID("strata-cli")}, opts...)...)
}

// reqCtx bounds one request.
func (e *env) reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.timeout)
}

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned in columns.
func (e *env) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// fields writes "Name:  value" lines, aligned.
func (e *env) fields(kv ...string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
	}
	tw.Flush()
}

// keyValues collects repeated k=v flags.
type keyValues struct {
	m     map[string]string
	order []string
}

func (kv *keyValues) String() string {
	var parts []string
	for _, k := range kv.order {
		parts = append(parts, k+"="+kv.m[k])
	}
	return strings.Join(parts, ",")
}

func (kv *keyValues) Type() string { return "k=v" }

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	if kv.m == nil {
		kv.m = make(map[string]string)
	}
	if _, dup := kv.m[k]; !dup {
		kv.order = append(kv.order, k)
	}
	kv.m[k] = v
	return nil
}

// stringList collects a repeated flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
func (l *stringList) Type() string       { return "string" }

// int32List collects a repeated integer flag.
type int32List []int32

func (l *int32List) String() string {
	if len(*l) == 0 {
		return "" // no default shown in the help
	}
	return fmt.Sprint([]int32(*l))
}
func (l *int32List) Type() string { return "int" }

func (l *int32List) Set(s string) error {
	var n int32
	if _, err := fmt.Sscan(s, &n); err != nil || n < 0 {
		return fmt.Errorf("%q: want a partition number", s)
	}
	*l = append(*l, n)
	return nil
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress prints a status line on stderr every second while a long
// command runs, when stderr is a terminal and stdout is not.
type progress struct {
	stop chan struct{}
	done chan struct{}
}

func (e *env) startProgress(line func() string) *progress {
	p := &progress{stop: make(chan struct{}), done: make(chan struct{})}
	if !isTerminal(e.stderr) || isTerminal(e.stdout) {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprintf(e.stderr, "\r\033[K%s\n", line())
				return
			case <-t.C:
				fmt.Fprintf(e.stderr, "\r\033[K%s", line())
			}
		}
	}()
	return p
}

func (p *progress) end() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.stop)
	<-p.done
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// plural writes n and a noun, "1 record", "2 records".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
